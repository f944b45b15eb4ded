import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { type RedisConnectionSettings, type RedisNode, redisSettings } from '@tabpfn-jobs/shared/config';
import { freePort, waitForPort } from './private-servers.js';
import { type AppProcess, spawnLeashed } from './processes.js';

/**
 * A real Redis Cluster from the `redis-server` binary, private to the test run: loopback ports, a temp
 * directory, every server leashed to the jest worker (spawnLeashed), so it dies with the test file
 * (reaper) or with the worker however that ends. A small node timeout makes failover take seconds.
 * Start and stop it in hooks inside a `describe`: the reaper is a file-level afterAll that runs before
 * file-level afterAll hooks of the test, so those would find the cluster already gone.
 *
 *   const cluster = await startRedisCluster();      // 3 masters + 3 replicas, ~2.5 s
 *   spawnApp('api', { REDIS_CLUSTER_NODES: cluster.nodes, QUEUE_PREFIX: '{t1}', … });
 *   await cluster.kill(await cluster.masterFor('{t1}'));  // SIGKILL the master of the prefix's slot
 *   await cluster.waitUntilOk();                    // its replica took over
 */
export interface RedisCluster {
  /** The REDIS_CLUSTER_NODES value: every node, `127.0.0.1:P,…`. */
  nodes: string;
  /** With `announceHostnames`: the REDIS_CLUSTER_NAT_MAP value, `node-P:P=127.0.0.1:P,…`; else empty. */
  natMap: string;
  seeds: RedisNode[];
  /** For the connection factory (`createWorkerRedis(cluster.settings)`). */
  settings: RedisConnectionSettings;
  /** Every node's port, masters and replicas, killed ones included. */
  ports: number[];
  /** The slot Redis Cluster hashes `key` to. */
  slotOf(key: string): Promise<number>;
  /** The port of the master serving `key`'s slot, as a live node sees it now. */
  masterFor(key: string): Promise<number>;
  /** The ports of the masters that serve slots now. */
  masters(): Promise<number[]>;
  /** SIGKILLs the node on `port` (its process group) and waits until the port is closed. */
  kill(port: number): Promise<void>;
  /** Starts a killed node again with its nodes.conf: it rejoins (as a replica, if it was failed over). */
  restart(port: number): Promise<void>;
  /** Waits until every live node says `cluster_state:ok` and every slot's master is a live node. */
  waitUntilOk(timeoutMs?: number): Promise<void>;
  /** Kills every node and removes the directory. */
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** `cluster-node-timeout`: how long a master may be unreachable before its replica takes over. */
  nodeTimeoutMs?: number;
  /**
   * Nodes announce the hostname `node-<port>` (which resolves nowhere) instead of 127.0.0.1, as nodes in a
   * container network do: clients reach them only through REDIS_CLUSTER_NAT_MAP (see `natMap`).
   */
  announceHostnames?: boolean;
}

const run = promisify(execFile);

/** Whether `redis-server` and `redis-cli` (7.0 or newer: `--cluster-port`) are on PATH. */
export function redisClusterAvailable(): boolean {
  const version = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout ?? '';
  const major = Number(/v=(\d+)\./.exec(version)?.[1] ?? 0);
  return major >= 7 && spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** One short-lived connection to one node, for admin commands (never a cluster client: no redirects). */
async function onNode<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1_000,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** Polls `check` (true, or a description of what is still wrong) until true; on timeout throws with that description. */
async function waitUntil(what: string, check: () => Promise<true | string>, timeoutMs: number, diagnostics: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: true | string = 'not checked yet';
  for (;;) {
    last = await check().catch((err: Error) => `check failed: ${err.message}`);
    if (last === true) return;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms: ${last}\n${diagnostics()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type SlotRange = [number, number, [string, number, ...unknown[]], ...unknown[]];

/** `CLUSTER SLOTS` of a live node: slot ranges with the port of their master. */
async function slotMasters(port: number): Promise<{ from: number; to: number; master: number }[]> {
  const ranges = (await onNode(port, (r) => r.call('CLUSTER', 'SLOTS'))) as SlotRange[];
  return ranges.map(([from, to, master]) => ({ from, to, master: Number(master[1]) }));
}

/** `size` free loopback ports, each with a free cluster-bus port of its own (port → bus port). */
async function pickPorts(size: number): Promise<Map<number, number>> {
  const busPorts = new Map<number, number>();
  const taken = new Set<number>();
  while (busPorts.size < size) {
    const [port, bus] = [await freePort(), await freePort()];
    if (port === bus || taken.has(port) || taken.has(bus)) continue;
    busPorts.set(port, bus);
    taken.add(port).add(bus);
  }
  return busPorts;
}

/** One node's `redis-server` arguments: its own nodes.conf in `dir`, no persistence, loopback only. */
function nodeArgs(port: number, busPort: number, dir: string, opts: RedisClusterOptions): string[] {
  const args = ['--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1', '--cluster-enabled', 'yes'];
  args.push('--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 1_500), '--dir', dir);
  // Any replica may take over however long it was cut off (a test kills masters on purpose).
  args.push('--cluster-replica-validity-factor', '0', '--save', '', '--appendonly', 'no', '--loglevel', 'warning');
  if (opts.announceHostnames) args.push('--cluster-announce-hostname', `node-${port}`, '--cluster-preferred-endpoint-type', 'hostname');
  return args;
}

/** Starts the servers, joins them with `redis-cli --cluster create`, and waits for `cluster_state:ok`. */
export async function startRedisCluster(opts: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = opts.masters ?? 3;
  const size = masters * (1 + (opts.replicasPerMaster ?? 1));
  const dir = mkdtempSync(join(tmpdir(), 'tabpfn-redis-cluster-'));
  const busPorts = await pickPorts(size);
  const ports = [...busPorts.keys()];
  const servers = new Map<number, AppProcess>();
  const start = (port: number) => {
    const args = nodeArgs(port, busPorts.get(port)!, dir, opts);
    servers.set(port, spawnLeashed(`redis-${port}`, 'redis-server', args, { env: { PATH: process.env.PATH } }));
    return waitForPort(port, true, 15_000);
  };
  const killed = new Set<number>();
  const live = () => ports.filter((p) => !killed.has(p));
  const diagnostics = () =>
    ports
      .map((p) => `redis-${p}${killed.has(p) ? ' (killed)' : ''}: ${(servers.get(p)?.output ?? []).slice(-5).join(' | ') || '(no output)'}`)
      .join('\n');

  const clusterOk = async (): Promise<true | string> => {
    for (const port of live()) {
      const info = await onNode(port, (r) => r.call('CLUSTER', 'INFO') as Promise<string>);
      if (!/cluster_state:ok/.test(info))
        return `${port}: ${/cluster_state:\w+/.exec(info)?.[0]}, ${/cluster_slots_ok:\d+/.exec(info)?.[0]}`;
    }
    const ranges = await slotMasters(live()[0]!);
    const covered = ranges.reduce((n, r) => n + r.to - r.from + 1, 0);
    const dead = ranges.find((r) => killed.has(r.master));
    if (covered !== 16_384) return `slot map covers ${covered} of 16384 slots`;
    return dead ? `slots ${dead.from}-${dead.to} still on killed master ${dead.master}` : true;
  };
  const waitUntilOk = (timeoutMs = 30_000) => waitUntil('cluster_state:ok on every live node', clusterOk, timeoutMs, diagnostics);

  try {
    await Promise.all(ports.map(start));
    const addresses = ports.map((p) => `127.0.0.1:${p}`);
    await run(
      'redis-cli',
      ['--cluster', 'create', ...addresses, '--cluster-replicas', String(opts.replicasPerMaster ?? 1), '--cluster-yes'],
      { timeout: 60_000 },
    ).catch((err: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(`redis-cli --cluster create failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}\n${diagnostics()}`);
    });
    await waitUntilOk();
  } catch (err) {
    for (const s of servers.values()) if (s.proc.pid) killGroup(s.proc.pid);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const seeds = ports.map((port) => ({ host: '127.0.0.1', port }));
  const slotOf = (key: string) => onNode(live()[0]!, (r) => r.call('CLUSTER', 'KEYSLOT', key)).then(Number);
  return {
    nodes: seeds.map((s) => `${s.host}:${s.port}`).join(','),
    natMap: opts.announceHostnames ? ports.map((p) => `node-${p}:${p}=127.0.0.1:${p}`).join(',') : '',
    seeds,
    settings: redisSettings({
      REDIS_CLUSTER_NODES: seeds,
      REDIS_CLUSTER_NAT_MAP: opts.announceHostnames ? Object.fromEntries(seeds.map((s) => [`node-${s.port}:${s.port}`, s])) : undefined,
    }),
    ports,
    slotOf,
    async masterFor(key) {
      const slot = await slotOf(key);
      const range = (await slotMasters(live()[0]!)).find((r) => r.from <= slot && slot <= r.to);
      if (!range) throw new Error(`no master serves slot ${slot} (of ${key})`);
      return range.master;
    },
    masters: async () => [...new Set((await slotMasters(live()[0]!)).map((r) => r.master))].sort((a, b) => a - b),
    async kill(port) {
      const server = servers.get(port);
      if (!server?.proc.pid) throw new Error(`no node on port ${port}`);
      killed.add(port);
      killGroup(server.proc.pid);
      await server.exited;
      await waitForPort(port, false, 10_000);
    },
    async restart(port) {
      if (!killed.has(port)) throw new Error(`node ${port} is running`);
      await start(port);
      killed.delete(port);
    },
    waitUntilOk,
    async stop() {
      for (const port of live()) killed.add(port);
      for (const s of servers.values()) if (s.proc.pid) killGroup(s.proc.pid);
      await Promise.all([...servers.values()].map((s) => s.exited));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone already
  }
}
