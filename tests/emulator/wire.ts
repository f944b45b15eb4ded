import { crc32cBase64, writeParquet } from '@tabpfn-jobs/tabpfn';

/**
 * Requests shaped the way the Python tabpfn-client 0.4.1 sends them (docs/tabpfn-protocol.md §1): its
 * version header on everything, the bearer token once it has one, JSON bodies with `null`s left out,
 * the OAuth2 login as a form, and upload PUTs that carry the same headers as every other call.
 */
export const CLIENT_VERSION = '0.4.1';

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body; the client trims keepalive whitespace before parsing (§4), so this does too. */
  json: Record<string, unknown> | undefined;
}

export interface SendOptions {
  token?: string;
  json?: unknown;
  form?: Record<string, string>;
  bytes?: Uint8Array;
  headers?: Record<string, string>;
}

export function clientHeaders(token?: string): Record<string, string> {
  return { 'prior-client-version': CLIENT_VERSION, ...(token ? { authorization: `Bearer ${token}` } : {}) };
}

function bodyOf(o: SendOptions): { body?: string | URLSearchParams | Buffer; type?: string } {
  if (o.form) return { body: new URLSearchParams(o.form) };
  if (o.bytes) return { body: Buffer.from(o.bytes) };
  if (o.json !== undefined) return { body: JSON.stringify(o.json), type: 'application/json' };
  return {};
}

export async function send(base: string, method: string, path: string, o: SendOptions = {}): Promise<Reply> {
  const { body, type } = bodyOf(o);
  const url = path.startsWith('http') ? path : `${base}${path}`;
  const res = await fetch(url, {
    method,
    headers: { ...clientHeaders(o.token), ...(type ? { 'content-type': type } : {}), ...o.headers },
    ...(body ? { body } : {}),
  });
  const text = await res.text();
  const trimmed = text.trim();
  let json: Record<string, unknown> | undefined;
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) json = JSON.parse(trimmed) as Record<string, unknown>;
  return { status: res.status, headers: res.headers, text, json };
}

/** `pd.DataFrame(X).to_parquet(index=False)`: columns named "0".."n-1" (§7). */
export function parquetOf(columns: (number | string)[][]): Uint8Array {
  return writeParquet(columns.map((data, i) => ({ name: String(i), type: typeof data[0] === 'string' ? 'STRING' : 'DOUBLE', data })));
}

/** `FileInfo` as `_get_crc32c_hash` and `_serialize_to_parquet` fill it (§4.2). */
export function fileInfo(bytes: Uint8Array): Record<string, unknown> {
  return { format: 'parquet', hash: crc32cBase64(bytes), size_bytes: bytes.byteLength };
}

export interface FileUploadInfo {
  signed_urls: string[];
  required_headers: Record<string, string>;
}

/**
 * `_upload_to_gcs`: n chunks of len//n bytes (the last takes the remainder), one PUT per signed URL
 * with `required_headers` plus the client's own headers; answers the statuses.
 */
export async function uploadChunks(base: string, token: string, bytes: Uint8Array, info: FileUploadInfo): Promise<number[]> {
  const n = info.signed_urls.length;
  const size = Math.floor(bytes.byteLength / n);
  return Promise.all(
    info.signed_urls.map(async (url, i) => {
      const chunk = bytes.subarray(i * size, i === n - 1 ? bytes.byteLength : (i + 1) * size);
      return (await send(base, 'PUT', url, { token, bytes: chunk, headers: info.required_headers })).status;
    }),
  );
}
