/**
 * A process started with an IPC channel (the `pnpm start` supervisor, the test helpers) stops when
 * that channel closes, i.e. when its parent dies by any means, SIGKILL included: the kernel closes
 * the socket for us, so no polling and no race. It stops the way SIGTERM stops it (graceful where
 * the app installed `onShutdown`, immediate before that), and exits hard if stopping hangs.
 *
 * Processes started without a channel (Docker, systemd, `node dist/main.js &`) are left alone:
 * outliving a shell is their normal life.
 */
export function watchParent(opts: { hardExitMs?: number } = {}): void {
  if (!process.channel) return;
  // The channel must not keep the process alive by itself; it only reports the parent's death.
  process.channel.unref();
  process.once('disconnect', () => {
    const timer = setTimeout(() => process.exit(1), opts.hardExitMs ?? 30_000);
    timer.unref();
    process.kill(process.pid, 'SIGTERM');
  });
}
