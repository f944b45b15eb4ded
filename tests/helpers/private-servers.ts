import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Private Redis and Postgres servers for the fault suite, so it can FLUSHALL and restart them without
 * disturbing anything else using the machine's shared servers. Needs the server binaries
 * (redis-server; PostgreSQL's initdb/pg_ctl, run as the `postgres` user when we are root).
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, up = true, maxMs = 30_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (open === up) return;
    if (Date.now() - start > maxMs) throw new Error(`port ${port} did not go ${up ? 'up' : 'down'}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function privateServersAvailable(): boolean {
  return pgBin() !== undefined && existsSync('/usr/bin/redis-server');
}

function pgBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).sort();
  const v = versions[versions.length - 1];
  return v ? join(base, v, 'bin') : undefined;
}

export async function startPrivateRedis() {
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const start = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitForPort(port);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      proc?.kill('SIGKILL');
      await waitForPort(port, false);
    },
    start,
  };
}

export async function startPrivatePostgres() {
  const bin = pgBin();
  if (!bin) throw new Error('PostgreSQL server binaries not found');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tabpfn-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  const asPg = (cmd: string, args: string[]) => {
    const root = process.getuid?.() === 0;
    return execFileSync(root ? 'runuser' : cmd, root ? ['-u', 'postgres', '--', cmd, ...args] : args, { stdio: 'pipe' });
  };
  asPg(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const ctl = (action: string, extra: string[] = []) =>
    asPg(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', ...extra, action]);
  const opts = ['-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`];
  ctl('start', opts);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    /** Fast shutdown: open connections are dropped, as in a real restart. */
    stop() {
      ctl('stop', ['-m', 'fast']);
    },
    start() {
      ctl('start', opts);
    },
    destroy() {
      try {
        ctl('stop', ['-m', 'immediate']);
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
