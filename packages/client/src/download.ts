/**
 * Node only, loaded on demand (so the SDK's core still loads where `node:*` does not): a response
 * body piped to a file or a Writable, never held whole. `pipeline` waits for 'drain' when the
 * destination is full, and the web stream then stops pulling from the socket (backpressure).
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

/** A regular file (or a new one) is written beside and renamed; a device or FIFO (/dev/stdout) in place. */
async function inPlace(path: string): Promise<boolean> {
  try {
    return !(await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Pipes `body` to `dest` and answers the bytes written. A path is written to a temporary file beside
 * it and renamed once the body ended, so a cut-off answer never leaves a complete-looking file (and
 * an earlier file of that name stays until then). A Writable is ended at the end (process.stdout and
 * process.stderr never are) and destroyed on an error.
 */
export async function writeBody(body: ReadableStream<Uint8Array>, dest: string | NodeJS.WritableStream, signal?: AbortSignal): Promise<number> {
  let bytes = 0;
  // Made when piped, not before the stat below: an error of the body meanwhile would find no listener.
  const source = () => Readable.fromWeb(body as WebReadableStream<Uint8Array>);
  async function* count(chunks: AsyncIterable<Uint8Array>) {
    for await (const chunk of chunks) {
      bytes += chunk.byteLength;
      yield chunk;
    }
  }
  const options = signal ? { signal } : {};
  if (typeof dest !== 'string') {
    await pipeline(source(), count, dest, options);
    return bytes;
  }
  if (await inPlace(dest)) {
    await pipeline(source(), count, createWriteStream(dest), options);
    return bytes;
  }
  const partial = join(dirname(dest), `.${basename(dest)}.${randomUUID().slice(0, 8)}.part`);
  try {
    await pipeline(source(), count, createWriteStream(partial), options);
    await rename(partial, dest);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  return bytes;
}
