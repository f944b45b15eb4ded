/**
 * A local OTLP/HTTP receiver for tests: the apps export to it (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`),
 * it keeps every request body as received (for grepping) and the spans decoded.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValue[] };
};
type KeyValue = { key: string; value: AnyValue };

export interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  /** `service.name` of the process that exported it. */
  service: string;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string }[];
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  status: number;
}

export interface OtlpReceiver {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends `/v1/traces`). */
  url: string;
  spans: ExportedSpan[];
  /** Every request body, as received. */
  raw: string[];
  /** Polls `probe` over the spans received so far until it returns a value; on timeout the error lists what arrived. */
  waitFor<T>(what: string, probe: (spans: ExportedSpan[]) => T | undefined, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

function decodeValue(v: AnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(decodeValue);
  return undefined;
}

const attributesOf = (kvs: KeyValue[] | undefined) => Object.fromEntries((kvs ?? []).map((kv) => [kv.key, decodeValue(kv.value)]));

function decode(body: string): ExportedSpan[] {
  const out: ExportedSpan[] = [];
  const doc = JSON.parse(body) as {
    resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: Record<string, unknown>[] }[] }[];
  };
  for (const rs of doc.resourceSpans ?? []) {
    const service = String(attributesOf(rs.resource?.attributes)['service.name'] ?? '');
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: s.traceId as string,
          spanId: s.spanId as string,
          parentSpanId: (s.parentSpanId as string | undefined) || undefined,
          name: s.name as string,
          kind: s.kind as number,
          service,
          attributes: attributesOf(s.attributes as KeyValue[] | undefined),
          links: ((s.links as { traceId: string; spanId: string }[] | undefined) ?? []).map((l) => ({
            traceId: l.traceId,
            spanId: l.spanId,
          })),
          status: ((s.status as { code?: number } | undefined)?.code ?? 0) as number,
        });
      }
    }
  }
  return out;
}

/** What arrived, per trace: span names and counts (the diagnostics of a timed-out wait). */
export function describeSpans(spans: ExportedSpan[]): string {
  const traces = new Map<string, Map<string, number>>();
  for (const s of spans) {
    const names = traces.get(s.traceId) ?? new Map<string, number>();
    names.set(`${s.service}:${s.name}`, (names.get(`${s.service}:${s.name}`) ?? 0) + 1);
    traces.set(s.traceId, names);
  }
  return [...traces].map(([id, names]) => `${id}: ${[...names].map(([n, c]) => (c > 1 ? `${n} x${c}` : n)).join(', ')}`).join('\n');
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ExportedSpan[] = [];
  const raw: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      raw.push(body);
      if (req.url === '/v1/traces' && req.headers['content-type']?.includes('json')) spans.push(...decode(body));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    raw,
    async waitFor(what, probe, timeoutMs = 30_000) {
      const start = Date.now();
      for (;;) {
        const found = probe(spans);
        if (found !== undefined) return found;
        if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}; spans received:\n${describeSpans(spans)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
