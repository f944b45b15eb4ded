import { type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

const tracer = trace.getTracer('@tabpfn-jobs/tabpfn');

/** What a span of one upstream exchange records: never headers (the token), a body, or a URL's query (signed URLs). */
export interface CallDescription {
  operation: string;
  method: string;
  url: string;
}

function pathOf(url: string): { host?: string; path: string } {
  try {
    const u = new URL(url);
    return { host: u.host, path: u.pathname };
  } catch {
    return { path: url.split('?')[0] ?? url };
  }
}

function fail(span: Span, code: string): void {
  span.setAttribute('error.type', code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
}

/**
 * Runs one upstream HTTP exchange in a span named after its operation (`tabpfn fit`, `tabpfn
 * get_fit_status`, `tabpfn upload x_train`, …), when the caller is traced (a job's attempt, an api
 * request). Without an active span (tracing off, or an untraced caller) it is the call itself.
 */
export async function traceCall<T extends { status: number }>(call: CallDescription, send: () => Promise<T>): Promise<T> {
  if (!trace.getActiveSpan()) return send();
  const { host, path } = pathOf(call.url);
  const attributes = {
    'tabpfn.operation': call.operation,
    'http.request.method': call.method,
    'url.path': path,
    ...(host ? { 'server.address': host } : {}),
  };
  return tracer.startActiveSpan(`tabpfn ${call.operation}`, { kind: SpanKind.INTERNAL, attributes }, async (span) => {
    try {
      const res = await send();
      span.setAttribute('http.response.status_code', res.status);
      // 409 is the protocol's "already there" (a deduplicated upload), not a failure.
      if (res.status >= 400 && res.status !== 409) fail(span, String(res.status));
      return res;
    } catch (err) {
      // The error's code, never its message (upstream's text can echo request data).
      const code = (err as { code?: unknown }).code;
      fail(span, typeof code === 'string' ? code : err instanceof Error ? err.name : 'error');
      throw err;
    } finally {
      span.end();
    }
  });
}
