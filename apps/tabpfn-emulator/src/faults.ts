import { z } from 'zod';

/**
 * Route names faults, counters and recorded requests use. `*` in a fault matches every route.
 */
export const ROUTES = [
  'root',
  'protected',
  'greetings',
  'get_settings',
  'get_model_limits',
  'get_api_usage',
  'prepare_train_set_upload',
  'prepare_test_set_upload',
  'upload',
  'fit',
  'submit_fit_job',
  'get_fit_status',
  'predict',
  'estimate_cost',
  'delete_dataset',
  'delete_all_datasets',
  'get_data_summary',
  'download_all_data',
  'delete_user_account',
  'auth',
] as const;
export type RouteName = (typeof ROUTES)[number];

export const faultSpecSchema = z
  .object({
    route: z.union([z.enum(ROUTES), z.literal('*')]),
    /** Only requests with this bearer token (upload PUTs: the upload's owner). */
    token: z.string().optional(),
    /**
     * status: answer `status` with an error body. streamed_error: 200, keepalive whitespace, then
     * `{"_streamed_error":true,...}`. client_too_old: 426 plus Deprecation/Sunset headers. headers: add
     * `headers` and serve normally (deprecation notices). delay: wait `delayMs`, then serve normally.
     * hang: never answer; the socket is dropped after `delayMs` (default 10 min) or when the client goes away.
     * reset: destroy the socket at once. fit_failed: the fit is accepted and then reports `status: "failed"`.
     */
    kind: z.enum(['status', 'streamed_error', 'client_too_old', 'headers', 'delay', 'hang', 'reset', 'fit_failed']).default('status'),
    status: z.number().int().min(100).max(599).optional(),
    message: z.string().optional(),
    errorCode: z.string().optional(),
    /** Seconds for a `Retry-After` header. */
    retryAfter: z.number().min(0).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    /** A JSON body to answer with instead of the standard error body. */
    body: z.unknown().optional(),
    /** How many matching requests the fault hits; default 1, or unlimited when `probability` is set. */
    count: z.number().int().min(1).optional(),
    /** Hit a matching request with this probability (seeded generator). */
    probability: z.number().min(0).max(1).optional(),
    /** Wait this long before acting (for `hang`: before dropping the socket). */
    delayMs: z.number().int().min(0).optional(),
  })
  .strict();

export type FaultSpec = z.input<typeof faultSpecSchema>;
export type Fault = z.output<typeof faultSpecSchema> & { id: string; remaining: number; hits: number };

/** mulberry32: small, seedable, good enough for fault dice. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultBook {
  private faults: Fault[] = [];
  private nextId = 1;
  constructor(private random: () => number) {}

  add(spec: FaultSpec): Fault {
    const parsed = faultSpecSchema.parse(spec);
    const remaining = parsed.count ?? (parsed.probability !== undefined ? Number.POSITIVE_INFINITY : 1);
    const fault: Fault = { ...parsed, id: `fault_${this.nextId++}`, remaining, hits: 0 };
    this.faults.push(fault);
    return fault;
  }

  list(): Fault[] {
    return this.faults.map((f) => ({ ...f }));
  }

  remove(id: string): boolean {
    const before = this.faults.length;
    this.faults = this.faults.filter((f) => f.id !== id);
    return this.faults.length !== before;
  }

  clear(): void {
    this.faults = [];
  }

  reseed(random: () => number): void {
    this.random = random;
  }

  /** The first fault that hits this request, consuming one of its uses. */
  take(route: RouteName, token: string | undefined): Fault | undefined {
    for (const f of this.faults) {
      if (f.route !== '*' && f.route !== route) continue;
      if (f.token !== undefined && f.token !== token) continue;
      if (f.remaining <= 0) continue;
      if (f.probability !== undefined && this.random() >= f.probability) continue;
      f.remaining -= 1;
      f.hits += 1;
      if (f.remaining <= 0) this.faults = this.faults.filter((x) => x !== f);
      return f;
    }
    return undefined;
  }
}
