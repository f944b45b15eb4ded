import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { requestClasses } from '@tabpfn-jobs/shared/http-server';
import { createEmulatorApp } from './app.js';
import type { EmulatorState } from './emulator-state.js';
import type { EmulatorOptions } from './options.js';

export interface RunningEmulator {
  url: string;
  port: number;
  state: EmulatorState;
  close(): Promise<void>;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const { app, state } = createEmulatorApp(options);
  const server = createServer(requestClasses(app), app);
  // Sync fits and hang faults may legitimately hold a request for many minutes.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    state,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
