import { type Server, createServer } from 'node:http';
import type { Express } from 'express';
import { requestClasses } from '@tabpfn-jobs/shared/http-server';
import type { Logger } from '@tabpfn-jobs/shared/logger';

export interface RunningServer {
  server: Server;
  port: number;
  url: string;
  /** Stops accepting connections, lets open requests finish (up to `graceMs`), then closes the rest. */
  close(graceMs?: number): Promise<void>;
}

export function listen(app: Express, opts: { port: number; host: string; logger: Logger; requestTimeoutMs?: number }): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    // Requests are born with the app's prototypes: Express then need not change them (http-server.ts).
    const server = createServer(requestClasses(app), app).listen(opts.port, opts.host);
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.requestTimeout = 300_000;
    server.once('error', reject);
    server.once('listening', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : opts.port;
      const host = opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host;
      resolve({
        server,
        port,
        url: `http://${host}:${port}`,
        close(graceMs = 10_000) {
          return new Promise<void>((done) => {
            const timer = setTimeout(() => server.closeAllConnections(), graceMs);
            // Keep-alive sockets become idle as their last response finishes; close them as they do.
            const sweeper = setInterval(() => server.closeIdleConnections(), 50);
            server.close(() => {
              clearTimeout(timer);
              clearInterval(sweeper);
              done();
            });
            server.closeIdleConnections();
          });
        },
      });
    });
  });
}
