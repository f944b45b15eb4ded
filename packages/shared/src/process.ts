import { ConfigError } from './config/env.js';
import type { Logger } from './logger.js';
import { watchParent } from './parent-watch.js';

/**
 * Runs an app's `main`: a configuration error prints its one line and exits 78 (EX_CONFIG); any
 * other start failure prints the stack and exits 1. A process given an IPC channel stops when its
 * parent dies (parent-watch.ts).
 */
export function runMain(app: string, main: () => Promise<void>): void {
  watchParent();
  main().catch((err) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    process.stderr.write(`${app} failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}

/** Runs `stop` once on the first SIGTERM or SIGINT, then exits 0 (1 if stopping failed). */
export function onShutdown(logger: Logger, stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handle = (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Flush before exiting: log lines written during shutdown (jobs finishing in the grace period)
    // would otherwise be lost with the process.
    // A flush that cannot finish (stdout is a pipe whose reader died with our parent) must not keep
    // a stopped process alive: exit anyway shortly after.
    const exit = (code: number) => {
      setTimeout(() => process.exit(code), 1_000).unref();
      logger.flush(() => process.exit(code));
    };
    stop(signal).then(
      () => {
        logger.info('stopped');
        exit(0);
      },
      (err) => {
        logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', () => handle('SIGTERM'));
  process.on('SIGINT', () => handle('SIGINT'));
}
