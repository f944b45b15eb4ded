import { z } from 'zod';
import { envBool, envInt, unsetIfEmpty } from './env-values.js';

/** A Redis server address. */
export interface RedisNode {
  host: string;
  port: number;
}

/** `host:port`, `[ipv6]:port` → a node; undefined when it is neither. */
export function parseHostPort(text: string): RedisNode | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]/@]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65_535) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}

const optionalText = () => unsetIfEmpty(z.string());

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** `host:port,host:port,…`: the seeds ioredis asks for the cluster's layout (any reachable node will do). */
const clusterNodes = optionalText().transform((v, ctx) => {
  if (v === undefined) return undefined;
  const nodes: RedisNode[] = [];
  for (const part of list(v)) {
    const node = parseHostPort(part);
    if (node) nodes.push(node);
    else ctx.addIssue({ code: 'custom', message: `"${part}" is not host:port (e.g. 10.0.0.5:6379)` });
  }
  if (!nodes.length) ctx.addIssue({ code: 'custom', message: 'names no host:port' });
  return nodes;
});

/**
 * `announced=reachable,…`, each side `host:port`: the addresses cluster nodes announce (CLUSTER SLOTS)
 * mapped to where this process reaches them, e.g. nodes inside a container network seen from the host.
 */
const natMap = optionalText().transform((v, ctx) => {
  if (v === undefined) return undefined;
  const map: Record<string, RedisNode> = {};
  for (const part of list(v)) {
    const [from, to, ...rest] = part.split('=');
    const a = from === undefined ? undefined : parseHostPort(from);
    const b = to === undefined ? undefined : parseHostPort(to);
    if (!a || !b || rest.length)
      ctx.addIssue({
        code: 'custom',
        message: `"${part}" is not announced=reachable, each host:port (e.g. 172.18.0.5:6379=127.0.0.1:7001)`,
      });
    else map[`${a.host}:${a.port}`] = b;
  }
  return map;
});

/** The Redis settings every process reads; see {@link redisSettings}. */
export const redisEnvShape = {
  /** One Redis server (`rediss://` for TLS). Ignored when REDIS_CLUSTER_NODES is set. */
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /** Redis Cluster seeds; when set, every connection is an ioredis Cluster and REDIS_URL is ignored. */
  REDIS_CLUSTER_NODES: clusterNodes,
  REDIS_CLUSTER_NAT_MAP: natMap,
  /** MOVED/ASK redirections and retries (after CLUSTERDOWN, TRYAGAIN or a lost node, 100 ms apart) one command makes before it fails. */
  REDIS_CLUSTER_MAX_REDIRECTIONS: envInt(16, 1, 1_000),
  /** Wait for the server to be loaded (a cluster: `cluster_state:ok`) before a connection counts as ready. */
  REDIS_READY_CHECK: envBool(true),
  /** TLS to every node (REDIS_URL can say so itself with `rediss://`). */
  REDIS_TLS: envBool(false),
  /** ACL user and password for every node; credentials in REDIS_URL win over these. */
  REDIS_USERNAME: optionalText(),
  REDIS_PASSWORD: optionalText(),
};

export type RedisEnv = z.infer<z.ZodObject<typeof redisEnvShape>>;

/**
 * The hash tag Redis Cluster hashes a key by: the text between the first `{` and the first `}` after
 * it, if not empty. A prefix with one puts every key that starts with it in one slot, which BullMQ's
 * multi-key Lua scripts (and ours) need; undefined when the key is hashed whole.
 */
export function hashTagOf(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open < 0) return undefined;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}

/**
 * Cross-field rules, for `.superRefine` on each app's schema: on a cluster the key prefix must carry a
 * hash tag. A prefix without one is refused rather than wrapped in braces: wrapping would silently
 * move every key to a different name than the same prefix has on a single Redis.
 */
export function refineRedisEnv(
  config: { REDIS_CLUSTER_NODES?: RedisNode[] | undefined; REDIS_CLUSTER_NAT_MAP?: unknown; QUEUE_PREFIX: string },
  ctx: z.RefinementCtx,
): void {
  if (config.REDIS_CLUSTER_NODES === undefined) {
    if (config.REDIS_CLUSTER_NAT_MAP !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['REDIS_CLUSTER_NAT_MAP'], message: 'only applies with REDIS_CLUSTER_NODES, which is not set' });
    }
    return;
  }
  if (!hashTagOf(config.QUEUE_PREFIX)) {
    ctx.addIssue({
      code: 'custom',
      path: ['QUEUE_PREFIX'],
      message: `"${config.QUEUE_PREFIX}" has no hash tag: with REDIS_CLUSTER_NODES it must contain one, e.g. {tabpfn-jobs}, so that each queue's keys share a cluster slot`,
    });
  }
}

interface CommonSettings {
  /** Wait for `loading:0` (a cluster: `cluster_state:ok`) before ready. */
  readyCheck: boolean;
  tls: boolean;
  username?: string | undefined;
  password?: string | undefined;
}

/** Where and how to connect, derived once from the parsed config; what the connection factory takes. */
export type RedisConnectionSettings =
  | (CommonSettings & { mode: 'single'; url: string })
  | (CommonSettings & { mode: 'cluster'; nodes: RedisNode[]; natMap?: Record<string, RedisNode> | undefined; maxRedirections: number });

/** Settings from parsed Redis variables (the defaults of {@link redisEnvShape} for any left out). */
export function redisSettings(env: Partial<RedisEnv>): RedisConnectionSettings {
  const common: CommonSettings = {
    readyCheck: env.REDIS_READY_CHECK ?? true,
    tls: env.REDIS_TLS ?? false,
    username: env.REDIS_USERNAME,
    password: env.REDIS_PASSWORD,
  };
  if (env.REDIS_CLUSTER_NODES?.length) {
    return {
      ...common,
      mode: 'cluster',
      nodes: env.REDIS_CLUSTER_NODES,
      natMap: env.REDIS_CLUSTER_NAT_MAP,
      maxRedirections: env.REDIS_CLUSTER_MAX_REDIRECTIONS ?? 16,
    };
  }
  return { ...common, mode: 'single', url: env.REDIS_URL ?? 'redis://127.0.0.1:6379' };
}
