import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { parseEnv } from './env.js';
import { hashTagOf, redisEnvShape, redisSettings, refineRedisEnv } from './redis-env.js';

const schema = z.object({ ...redisEnvShape, QUEUE_PREFIX: z.string().default('{tabpfn-jobs}') }).superRefine(refineRedisEnv);
const settings = (env: Record<string, string>) => redisSettings(parseEnv(schema, env));

describe('Redis settings from the environment', () => {
  it('one server at REDIS_URL by default', () => {
    expect(settings({})).toEqual({
      mode: 'single',
      url: 'redis://127.0.0.1:6379',
      readyCheck: true,
      tls: false,
      username: undefined,
      password: undefined,
    });
  });

  it('a cluster when REDIS_CLUSTER_NODES is set, REDIS_URL ignored, with the cluster options', () => {
    const s = settings({
      REDIS_URL: 'redis://ignored:1',
      REDIS_CLUSTER_NODES: ' 10.0.0.5:6379, redis-1.internal:7000,[::1]:7001 ',
      REDIS_CLUSTER_NAT_MAP: '172.18.0.5:6379=127.0.0.1:7001,172.18.0.6:6379=127.0.0.1:7002',
      REDIS_CLUSTER_MAX_REDIRECTIONS: '5',
      REDIS_READY_CHECK: 'false',
      REDIS_TLS: 'true',
      REDIS_USERNAME: 'app',
      REDIS_PASSWORD: 'pw',
    });
    expect(s).toEqual({
      mode: 'cluster',
      nodes: [
        { host: '10.0.0.5', port: 6379 },
        { host: 'redis-1.internal', port: 7000 },
        { host: '::1', port: 7001 },
      ],
      natMap: { '172.18.0.5:6379': { host: '127.0.0.1', port: 7001 }, '172.18.0.6:6379': { host: '127.0.0.1', port: 7002 } },
      maxRedirections: 5,
      readyCheck: false,
      tls: true,
      username: 'app',
      password: 'pw',
    });
  });

  it('treats empty values as unset (compose passes an unset variable as an empty string)', () => {
    expect(settings({ REDIS_CLUSTER_NODES: '', REDIS_CLUSTER_NAT_MAP: ' ', REDIS_PASSWORD: '' })).toMatchObject({
      mode: 'single',
      password: undefined,
    });
  });

  it.each([
    [{ REDIS_CLUSTER_NODES: '10.0.0.5' }, /REDIS_CLUSTER_NODES: "10.0.0.5" is not host:port/],
    [{ REDIS_CLUSTER_NODES: 'a:1,b:99999' }, /REDIS_CLUSTER_NODES: "b:99999" is not host:port/],
    [{ REDIS_CLUSTER_NODES: ',' }, /REDIS_CLUSTER_NODES: names no host:port/],
    [{ REDIS_CLUSTER_NODES: 'a:1', REDIS_CLUSTER_NAT_MAP: 'a:1->b:2' }, /REDIS_CLUSTER_NAT_MAP: "a:1->b:2" is not announced=reachable/],
    [{ REDIS_CLUSTER_NAT_MAP: 'a:1=b:2' }, /REDIS_CLUSTER_NAT_MAP: only applies with REDIS_CLUSTER_NODES/],
    [{ REDIS_CLUSTER_MAX_REDIRECTIONS: '0' }, /REDIS_CLUSTER_MAX_REDIRECTIONS:/],
    [{ REDIS_TLS: 'maybe' }, /REDIS_TLS: expected true or false/],
  ])('refuses %j naming the variable', (env, message) => {
    expect(() => settings(env)).toThrow(message);
  });

  it('on a cluster refuses a key prefix without a hash tag, naming QUEUE_PREFIX; allows it on one server', () => {
    for (const prefix of ['tabpfn-jobs', '{}tabpfn', 'tabpfn{']) {
      expect(() => settings({ REDIS_CLUSTER_NODES: 'a:1', QUEUE_PREFIX: prefix })).toThrow(/QUEUE_PREFIX: .* has no hash tag/);
      expect(settings({ QUEUE_PREFIX: prefix }).mode).toBe('single');
    }
    expect(settings({ REDIS_CLUSTER_NODES: 'a:1', QUEUE_PREFIX: 'prod:{tabpfn}' }).mode).toBe('cluster');
  });

  it('never echoes the password in an error', () => {
    expect(() => settings({ REDIS_PASSWORD: 's3cret', REDIS_CLUSTER_NODES: 'nope' })).toThrow(/^(?!.*s3cret)/s);
  });
});

describe('hashTagOf (Redis Cluster key hashing)', () => {
  it.each([
    ['{tabpfn-jobs}:fit:wait', 'tabpfn-jobs'],
    ['prod:{a}{b}', 'a'],
    ['{}{a}', undefined],
    ['no-tag', undefined],
    ['{open', undefined],
  ])('%s → %s', (key, tag) => {
    expect(hashTagOf(key)).toBe(tag);
  });
});
