import { TabPFNError, UploadFailedError, UpstreamUnavailableError } from './errors.js';
import { type HttpContext, isTransient, retryOnce, send } from './http.js';

/** `FileUploadInfo` of a prepare response. */
export interface FileUploadInfo {
  signed_urls: string[];
  expires_at?: number;
  required_headers?: Record<string, string>;
}

export interface UploadOptions {
  timeoutMs: number;
  concurrency: number;
  signal?: AbortSignal | undefined;
  label: string;
}

/**
 * `_upload_to_gcs`: `len // n` bytes per URL, the last chunk takes the remainder; chunks go in parallel.
 * The server composes them in URL order.
 */
export function splitChunks(bytes: Uint8Array, n: number): Uint8Array[] {
  const size = Math.floor(bytes.byteLength / n);
  return Array.from({ length: n }, (_, i) => bytes.subarray(i * size, i === n - 1 ? bytes.byteLength : (i + 1) * size));
}

export async function uploadFile(ctx: HttpContext, info: FileUploadInfo, bytes: Uint8Array, opts: UploadOptions): Promise<void> {
  const urls = info.signed_urls;
  if (!Array.isArray(urls) || urls.length === 0)
    throw new TabPFNError('tabpfn_protocol_error', `No signed URLs for ${opts.label}`, { retryable: true });
  const chunks = splitChunks(bytes, urls.length);
  let next = 0;
  const worker = async () => {
    while (next < urls.length) {
      const i = next++;
      await retryOnce(
        () => putChunk(ctx, urls[i] as string, chunks[i] as Uint8Array, info.required_headers ?? {}, opts),
        isTransientUpload,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, urls.length) }, worker));
}

// GCS answers 500 now and then; the python client retries only 502/503/504 and network errors.
function isTransientUpload(err: unknown): boolean {
  return isTransient(err);
}

async function putChunk(
  ctx: HttpContext,
  url: string,
  chunk: Uint8Array,
  requiredHeaders: Record<string, string>,
  opts: UploadOptions,
): Promise<void> {
  // Like the python client the PUT goes through the same HTTP client, so it also carries
  // Authorization and Prior-Client-Version (GCS ignores them; the emulator records them).
  const res = await send(ctx, {
    method: 'PUT',
    url,
    raw: chunk,
    headers: lowerKeys(requiredHeaders),
    timeoutMs: opts.timeoutMs,
    signal: opts.signal,
    operation: `upload ${opts.label}`,
  });
  if (res.status === 200) return;
  const snippet = res.text.trim().slice(0, 300);
  const message = `GCS upload permanently failed for ${opts.label}: [HTTP ${res.status}] ${snippet}`;
  if (res.status === 408 || res.status >= 500)
    throw new UpstreamUnavailableError(message, 'status', { status: res.status, upstreamMessage: snippet });
  throw new UploadFailedError(message, { status: res.status, upstreamMessage: snippet });
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
}
