import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { IContainer as Container } from 'kubernetes-models/v1/Container';
import type { IPodSpec as PodSpec } from 'kubernetes-models/v1/PodSpec';
import { parse } from 'yaml';
import type { z } from 'zod';
import { apiEnvSchema, createApp } from '@tabpfn-jobs/api';
import { migrateEnvSchema } from '@tabpfn-jobs/shared/config';
import { JOB_NAMES } from '@tabpfn-jobs/shared/jobs';
import { createLogger } from '@tabpfn-jobs/shared/logger';
import { workerEnvSchema } from '@tabpfn-jobs/worker';
import { createWorkerMetrics, startMetricsServer } from '../../apps/worker/src/metrics.js';
import { servedRoutes } from '../ecosystem/route-table.js';
import { freePort } from '../ecosystem/support.js';
import { TEST_ENCRYPTION_KEYS, type TestApi, startTestApi } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { ROOT } from '../helpers/processes.js';
import { type TestRedis, createTestRedis } from '../helpers/redis.js';
import { type KindKey, type ObjectOf, loadManifests, toModel, validateManifest } from './k8s.js';

/**
 * deploy/: every object validates against the Kubernetes (and KEDA) schemas, and everything the
 * manifests name exists in the code: env vars in the apps' zod schemas, ConfigMap/Secret keys, probe
 * paths the api and worker serve, selectors that pick the right pods, the metric KEDA scales on.
 */

const manifests = loadManifests(ROOT, 'deploy');
const objects = manifests.map((m) => ({ m, obj: toModel(m) }));

function all<K extends KindKey>(key: K): ObjectOf<K>[] {
  return objects.filter((o) => o.m.key === key).map((o) => o.obj as ObjectOf<K>);
}
function one<K extends KindKey>(key: K, name: string): ObjectOf<K> {
  const found = all(key).filter((o) => o.metadata?.name === name);
  if (found.length !== 1) throw new Error(`expected one ${key} named ${name} in deploy/, found ${found.length}`);
  return found[0]!;
}

/** What each program reads: the container's `args` name the compiled entry point, and so its schema. */
const PROGRAMS: Record<string, z.ZodObject> = {
  'apps/api/dist/main.js': apiEnvSchema,
  'apps/worker/dist/main.js': workerEnvSchema,
  'apps/api/dist/migrate.js': migrateEnvSchema,
};

const workloads = [
  ...all('apps/v1/Deployment').map((d) => ({
    name: d.metadata!.name!,
    pod: d.spec!.template.spec as PodSpec,
    labels: d.spec!.template.metadata?.labels ?? {},
  })),
  ...all('batch/v1/Job').map((j) => ({
    name: j.metadata!.name!,
    pod: j.spec!.template.spec as PodSpec,
    labels: j.spec!.template.metadata?.labels ?? {},
  })),
];
const containers = workloads.flatMap((w) => w.pod.containers.map((c) => ({ workload: w.name, c, program: c.args?.[1] ?? '' })));

const configMaps = new Map(all('v1/ConfigMap').map((c) => [c.metadata!.name!, c.data ?? {}]));
const secrets = new Map(all('v1/Secret').map((s) => [s.metadata!.name!, { ...(s.stringData ?? {}), ...(s.data ?? {}) }]));

/** The environment a container gets: envFrom ConfigMaps, then `env` (value, or the referenced key's value). */
function containerEnv(c: Container): Map<string, { value: string | undefined; from: string; optional?: boolean }> {
  const env = new Map<string, { value: string | undefined; from: string; optional?: boolean }>();
  for (const src of c.envFrom ?? []) {
    const name = src.configMapRef?.name;
    if (!name) throw new Error(`${c.name}: only configMapRef is used in envFrom`);
    for (const [k, v] of Object.entries(configMaps.get(name) ?? {})) env.set(k, { value: v, from: `ConfigMap ${name}` });
  }
  for (const e of c.env ?? []) {
    const cm = e.valueFrom?.configMapKeyRef;
    const sk = e.valueFrom?.secretKeyRef;
    if (cm) env.set(e.name, { value: configMaps.get(cm.name!)?.[cm.key], from: `ConfigMap ${cm.name}/${cm.key}`, optional: cm.optional });
    else if (sk) env.set(e.name, { value: secrets.get(sk.name!)?.[sk.key], from: `Secret ${sk.name}/${sk.key}`, optional: sk.optional });
    else env.set(e.name, { value: e.value, from: 'value' });
  }
  return env;
}

/** Values to run with: the manifests' own, but real test secrets in place of the example Secret's placeholders. */
function runnableEnv(c: Container, secretsForTest: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of containerEnv(c)) {
    const value = v.from.startsWith('Secret') ? secretsForTest[k] : v.value;
    if (value !== undefined) out[k] = value;
  }
  return out;
}

const TEST_SECRETS = {
  ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
  DATABASE_URL: 'postgres://app:pw@pgbouncer:6432/tabpfn_jobs',
  DATABASE_URL_DIRECT: 'postgres://app:pw@postgres:5432/tabpfn_jobs',
  REDIS_URL: 'redis://:pw@redis:6379',
};

const container = (program: string) => {
  const found = containers.filter((x) => x.program === program);
  if (found.length !== 1) throw new Error(`expected one container running ${program}, found ${found.length}`);
  return found[0]!.c;
};
const portOf = (c: Container, name: string) => c.ports?.find((p) => p.name === name)?.containerPort;
const probes = (c: Container) => [c.startupProbe, c.livenessProbe, c.readinessProbe].filter((p) => p !== undefined);
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('deploy/ against the Kubernetes schemas', () => {
  it('finds the manifests: api and worker Deployments, PDBs, Services, ConfigMaps, example Secret, HPA, KEDA ScaledObject, migration Job', () => {
    const kinds = manifests.map((m) => m.key);
    for (const k of [
      'apps/v1/Deployment',
      'policy/v1/PodDisruptionBudget',
      'v1/Service',
      'v1/ConfigMap',
      'v1/Secret',
      'batch/v1/Job',
      'autoscaling/v2/HorizontalPodAutoscaler',
      'keda.sh/v1alpha1/ScaledObject',
    ])
      expect(kinds).toContain(k);
    expect(
      all('apps/v1/Deployment')
        .map((d) => d.metadata?.name)
        .sort(),
    ).toEqual(['tabpfn-jobs-api', 'tabpfn-jobs-worker']);
    expect(all('policy/v1/PodDisruptionBudget')).toHaveLength(2);
  });

  it.each(manifests.map((m) => [m.where, m.key, m] as const))(
    '%s (%s) validates, with no field its schema does not define',
    (_where, _key, m) => {
      expect(() => validateManifest(m)).not.toThrow();
    },
  );
});

describe('deploy/ against the code', () => {
  it('every container runs a program the image builds (apps/<app>/src/<entry>.ts → dist), in one image, keeping its tini ENTRYPOINT', () => {
    expect(containers.map((x) => x.program).sort()).toEqual(Object.keys(PROGRAMS).sort());
    for (const { c, program } of containers) {
      expect([c.name, c.command]).toEqual([c.name, undefined]);
      expect([c.name, c.args?.[0]]).toEqual([c.name, 'node']);
      const source = program.replace(/^apps\/([^/]+)\/dist\/(.+)\.js$/, 'apps/$1/src/$2.ts');
      expect([program, existsSync(join(ROOT, source))]).toEqual([program, true]);
    }
    expect(new Set(containers.map((x) => x.c.image)).size).toBe(1);
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/ENTRYPOINT \["\/usr\/bin\/tini", "--"\]/);
    // The same start commands as docker-compose.yml.
    const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { command?: string[] }> };
    expect(container('apps/api/dist/main.js').args).toEqual(compose.services.api!.command);
    expect(container('apps/worker/dist/main.js').args).toEqual(compose.services.worker!.command);
  });

  it("every env var a container gets is a key of its program's zod schema, and each required one is set", () => {
    for (const { c, program } of containers) {
      const schema = PROGRAMS[program]!;
      const known = Object.keys(schema.shape);
      const names = [...containerEnv(c).keys()];
      expect({ program, unknown: names.filter((n) => !known.includes(n)) }).toEqual({ program, unknown: [] });
      const required = known.filter((k) => !schema.shape[k]!.safeParse(undefined).success);
      expect({ program, missing: required.filter((k) => !names.includes(k)) }).toEqual({ program, missing: [] });
    }
  });

  it("each container's environment, with test secrets in place of the placeholders, parses with its schema", () => {
    for (const { c, program } of containers) {
      const parsed = PROGRAMS[program]!.safeParse(runnableEnv(c, TEST_SECRETS));
      expect({ program, issues: parsed.error?.issues ?? [] }).toEqual({ program, issues: [] });
    }
  });

  it('every referenced ConfigMap and Secret exists with the key referenced (unless the reference is optional)', () => {
    const missing: string[] = [];
    for (const { c } of containers) {
      for (const src of c.envFrom ?? [])
        if (!configMaps.has(src.configMapRef!.name!)) missing.push(`${c.name}: ConfigMap ${src.configMapRef!.name}`);
      for (const e of c.env ?? []) {
        const cm = e.valueFrom?.configMapKeyRef;
        const sk = e.valueFrom?.secretKeyRef;
        if (cm && !cm.optional && configMaps.get(cm.name!)?.[cm.key] === undefined)
          missing.push(`${c.name}: ConfigMap ${cm.name}/${cm.key}`);
        if (sk && !sk.optional && secrets.get(sk.name!)?.[sk.key] === undefined) missing.push(`${c.name}: Secret ${sk.name}/${sk.key}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('the example Secret holds placeholders only, and an unfilled one cannot start the apps', () => {
    const [secret] = all('v1/Secret');
    const values = Object.values(secret!.stringData ?? {});
    expect(secret!.data).toBeUndefined();
    expect(values.length).toBeGreaterThan(0);
    for (const v of values) expect(v).toContain('REPLACE_ME');
    expect(apiEnvSchema.shape.ENCRYPTION_KEYS.safeParse(secret!.stringData!.ENCRYPTION_KEYS).success).toBe(false);
  });

  it('migrations run once, in the Job, through DATABASE_URL_DIRECT; api replicas wait for them', () => {
    const job = containerEnv(container('apps/api/dist/migrate.js'));
    expect(job.get('DATABASE_URL_DIRECT')?.from).toBe('Secret tabpfn-jobs-secrets/DATABASE_URL_DIRECT');
    expect(job.get('NODE_ENV')?.value).toBe('production');
    expect(apiEnvSchema.parse(runnableEnv(container('apps/api/dist/main.js'), TEST_SECRETS)).MIGRATE_ON_START).toBe(false);
  });

  it('ports: PORT and METRICS_PORT are the ports declared, probed, scraped and served by the Services', () => {
    for (const [program, variable, portName] of [
      ['apps/api/dist/main.js', 'PORT', 'http'],
      ['apps/worker/dist/main.js', 'METRICS_PORT', 'metrics'],
    ] as const) {
      const c = container(program);
      const port = portOf(c, portName);
      expect(port).toBe(Number(containerEnv(c).get(variable)?.value));
      for (const p of probes(c)) expect(p.httpGet?.port).toBe(portName);
      const workload = workloads.find((w) => w.pod.containers.includes(c))!;
      const deployment = one('apps/v1/Deployment', workload.name);
      expect(deployment.spec!.template.metadata?.annotations?.['prometheus.io/port']).toBe(String(port));
    }
    for (const svc of all('v1/Service')) {
      const pods = workloads.filter((w) => matches(svc.spec!.selector ?? {}, w.labels));
      for (const p of svc.spec!.ports ?? [])
        expect(pods.every((w) => w.pod.containers.some((c) => portOf(c, String(p.targetPort)) !== undefined))).toBe(true);
    }
  });

  it('each Service and PodDisruptionBudget selects exactly one workload, and each Deployment its own pods', () => {
    for (const d of all('apps/v1/Deployment'))
      expect(matches(d.spec!.selector.matchLabels ?? {}, d.spec!.template.metadata!.labels!)).toBe(true);
    const selectors = [
      ...all('v1/Service').map((s) => ({ what: `Service ${s.metadata!.name}`, sel: s.spec!.selector ?? {} })),
      ...all('policy/v1/PodDisruptionBudget').map((p) => ({ what: `PDB ${p.metadata!.name}`, sel: p.spec!.selector?.matchLabels ?? {} })),
    ];
    for (const { what, sel } of selectors) {
      expect({ what, picks: workloads.filter((w) => matches(sel, w.labels)).map((w) => w.name) }).toEqual({
        what,
        picks: [expect.stringMatching(/-(api|worker)$/)],
      });
    }
    expect(
      matches(
        one('v1/Service', 'tabpfn-jobs-api').spec!.selector!,
        one('apps/v1/Deployment', 'tabpfn-jobs-api').spec!.template.metadata!.labels!,
      ),
    ).toBe(true);
  });

  it('grace periods outlast what SIGTERM does: the api drains SHUTDOWN_GRACE_MS after preStop, a worker hands back 5 s after it', () => {
    for (const [name, program, extraMs] of [
      ['tabpfn-jobs-api', 'apps/api/dist/main.js', 5_000],
      ['tabpfn-jobs-worker', 'apps/worker/dist/main.js', 5_000],
    ] as const) {
      const cfg = PROGRAMS[program]!.parse(runnableEnv(container(program), TEST_SECRETS)) as { SHUTDOWN_GRACE_MS: number };
      const grace = one('apps/v1/Deployment', name).spec!.template.spec!.terminationGracePeriodSeconds!;
      expect(grace * 1000).toBeGreaterThan(cfg.SHUTDOWN_GRACE_MS + extraMs);
    }
  });

  it('autoscalers target the Deployments; KEDA keeps a worker (maintenance) and its threshold is WORKER_CONCURRENCY', () => {
    const [hpa] = all('autoscaling/v2/HorizontalPodAutoscaler');
    expect(hpa!.spec!.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'tabpfn-jobs-api' });
    expect(container('apps/api/dist/main.js').resources?.requests?.cpu).toBeDefined();
    const [so] = all('keda.sh/v1alpha1/ScaledObject');
    expect(so!.spec.scaleTargetRef.name).toBe('tabpfn-jobs-worker');
    expect(so!.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    const concurrency = workerEnvSchema.parse(runnableEnv(container('apps/worker/dist/main.js'), TEST_SECRETS)).WORKER_CONCURRENCY;
    expect(so!.spec.triggers[0]!.metadata.threshold).toBe(String(concurrency));
  });
});

/** `name{a="x",b="y"} 1` samples of a Prometheus text exposition, by metric name. */
function samples(text: string): Map<string, Record<string, string>[]> {
  const out = new Map<string, Record<string, string>[]>();
  for (const m of text.matchAll(/^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? \S+$/gm)) {
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), labels]);
  }
  return out;
}

describe('deploy/ against the running programs', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let api: TestApi;
  let worker: NonNullable<Awaited<ReturnType<typeof startMetricsServer>>>;
  let apiMetrics: Map<string, Record<string, string>[]>;

  beforeAll(async () => {
    redis = createTestRedis();
    db = await createTestDatabase();
    // The api as the manifests configure it, on this run's Postgres and Redis; upstream never reached.
    const env = runnableEnv(container('apps/api/dist/main.js'), TEST_SECRETS);
    api = await startTestApi({
      ...env,
      NODE_ENV: 'test',
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      TABPFN_API_URL: 'http://127.0.0.1:9',
    });
    const logger = createLogger({ name: 'worker', level: 'silent' });
    // Port 0 turns the server off: a free port instead.
    worker = (await startMetricsServer(createWorkerMetrics(), { port: await freePort(), host: '127.0.0.1', logger }))!;
    apiMetrics = samples(await (await fetch(`${api.url}/metrics`)).text());
  });
  afterAll(async () => {
    await api?.close();
    await worker?.close();
    await redis?.cleanup();
    await db?.drop();
  });

  it("the api's probe paths are routes it serves, and each answers 200 (readiness: Postgres, Redis, migrations)", async () => {
    const served = servedRoutes(createApp(api.ctx));
    const c = container('apps/api/dist/main.js');
    const paths = [
      ...probes(c).map((p) => p.httpGet!.path!),
      one('apps/v1/Deployment', 'tabpfn-jobs-api').spec!.template.metadata!.annotations!['prometheus.io/path']!,
    ];
    expect(c.readinessProbe?.httpGet?.path).toBe('/ready');
    expect(c.livenessProbe?.httpGet?.path).toBe('/health');
    for (const path of paths) {
      expect(served).toContain(`GET ${path}`);
      expect([path, (await fetch(`${api.url}${path}`)).status]).toEqual([path, 200]);
    }
  });

  it("the worker's probe paths are what its metrics server (METRICS_PORT) answers", async () => {
    const c = container('apps/worker/dist/main.js');
    const paths = [
      ...probes(c).map((p) => p.httpGet!.path!),
      one('apps/v1/Deployment', 'tabpfn-jobs-worker').spec!.template.metadata!.annotations!['prometheus.io/path']!,
    ];
    expect(paths.length).toBeGreaterThanOrEqual(3);
    for (const path of paths) expect([path, (await fetch(`http://127.0.0.1:${worker.port}${path}`)).status]).toEqual([path, 200]);
    expect((await fetch(`http://127.0.0.1:${worker.port}/health`)).status).toBe(404);
  });

  it('the ScaledObject queries a metric the api registers, with labels and label values it reports', async () => {
    const query = all('keda.sh/v1alpha1/ScaledObject')[0]!.spec.triggers[0]!.metadata.query!;
    const selectors = [...query.matchAll(/([a-zA-Z_:][\w:]*)\{([^}]*)\}/g)];
    expect(selectors.length).toBeGreaterThan(0);
    for (const [, metric, matchers] of selectors) {
      const seen = apiMetrics.get(metric!) ?? [];
      expect([metric, seen.length > 0]).toEqual([metric, true]);
      for (const [, label, op, value] of (matchers ?? '').matchAll(/(\w+)\s*(=~|=)\s*"([^"]*)"/g)) {
        for (const v of op === '=~' ? value!.split('|') : [value!]) {
          expect([metric, label, v, seen.some((s) => s[label!] === v)]).toEqual([metric, label, v, true]);
        }
      }
      for (const group of query.matchAll(/by \(([^)]*)\)/g)) {
        for (const label of group[1]!.split(',').map((l) => l.trim())) expect([label, label in seen[0]!]).toEqual([label, true]);
      }
    }
    // Queue names in the query are the job catalog's.
    const queues = /queue=~"([^"]*)"/.exec(query)![1]!.split('|');
    for (const q of queues) expect(JOB_NAMES).toContain(q);
    // The worker itself reports no queue depth: the metric is the api's.
    const workerText = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
    expect(samples(workerText).has('tabpfn_jobs_queue_depth')).toBe(false);
  });
});
