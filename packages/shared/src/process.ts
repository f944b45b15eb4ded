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

/** The registered stop path (`onShutdown`); the crash net goes through it too. */
let shutdown: ((reason: string, exitCode: number) => void) | undefined;

/** Work a stopped process finishes before it exits (tracing's buffered spans); see `beforeExit`. */
const exitTasks: (() => Promise<void>)[] = [];

/** Registers `task` to run after `onShutdown`'s stop, before the exit; each must bound its own time. */
export function beforeExit(task: () => Promise<void>): void {
  exitTasks.push(task);
}

/**
 * Runs `stop` once on the first SIGTERM or SIGINT (or crash, see `installCrashNet`), then exits 0
 * (1 if stopping failed or a crash started it).
 */
export function onShutdown(logger: Logger, stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handle = (reason: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    // Flush before exiting: log lines written during shutdown (jobs finishing in the grace period)
    // would otherwise be lost with the process.
    // A flush that cannot finish (stdout is a pipe whose reader died with our parent) must not keep
    // a stopped process alive: exit anyway shortly after.
    const exit = async (code: number) => {
      if (exitTasks.length) await Promise.allSettled(exitTasks.map((task) => task()));
      setTimeout(() => process.exit(code), 1_000).unref();
      logger.flush(() => process.exit(code));
    };
    stop(reason).then(
      () => {
        logger.info('stopped');
        void exit(exitCode);
      },
      (err) => {
        logger.error({ err }, 'shutdown failed');
        void exit(1);
      },
    );
  };
  shutdown = handle;
  process.on('SIGTERM', () => handle('SIGTERM', 0));
  process.on('SIGINT', () => handle('SIGINT', 0));
}

/**
 * The last-resort net, not the fix: a rejection nobody handled or an exception nobody caught is a
 * bug, and the process state after it is unknown. Log it at fatal, stop through the same path as
 * SIGTERM (open requests drain, in-flight jobs finish or go back to the queue), exit 1 so the
 * supervisor restarts us. If stopping hangs, `forceExitMs` later the process exits anyway.
 */
export function installCrashNet(logger: Logger, opts: { forceExitMs?: number } = {}): void {
  let crashed = false;
  const crash = (kind: 'unhandledRejection' | 'uncaughtException', err: unknown) => {
    logger.fatal({ err, kind }, `${kind}: shutting down`);
    if (crashed) return;
    crashed = true;
    setTimeout(() => logger.flush(() => process.exit(1)), opts.forceExitMs ?? 30_000).unref();
    if (shutdown) shutdown(kind, 1);
    else logger.flush(() => process.exit(1));
  };
  process.on('unhandledRejection', (reason) => crash('unhandledRejection', reason));
  process.on('uncaughtException', (err) => crash('uncaughtException', err));
}

// Watching the parent is part of a process's lifetime, reachable from the same entry.
export * from './parent-watch.js';
export * from './jit.js';
