import type { Writable } from 'node:stream';

/** The client went away (or the stream broke) while the result was being written. */
export class ClientGone extends Error {
  constructor() {
    super('the client went away');
  }
}

/** Bytes gathered before one `write`: few syscalls, yet memory stays a constant. */
const FLUSH_AT = 64 * 1024;

/**
 * Text to a Writable in pieces of about FLUSH_AT, honouring backpressure: after a `write` that
 * returns false it waits for 'drain'. Once the stream closes or errors, `flush` throws ClientGone.
 *
 *   if (sink.push(text)) await sink.flush();
 */
export interface Sink {
  /** Adds text; true when enough is gathered that the caller should `await flush()`. */
  push(text: string): boolean;
  flush(): Promise<void>;
  end(): Promise<void>;
  /** Stops listening to the stream. */
  release(): void;
}

export function createSink(out: Writable, flushAt = FLUSH_AT): Sink {
  let parts: string[] = [];
  let size = 0;
  let gone = false;
  let wake: (() => void) | undefined;
  const onGone = () => {
    gone = true;
    wake?.();
  };
  const onDrain = () => wake?.();
  out.on('close', onGone);
  out.on('error', onGone);
  out.on('drain', onDrain);

  const drained = () =>
    new Promise<void>((resolve) => {
      wake = () => {
        wake = undefined;
        resolve();
      };
    });

  async function flush(): Promise<void> {
    if (gone || out.destroyed) throw new ClientGone();
    if (!size) return;
    const text = parts.join('');
    parts = [];
    size = 0;
    if (!out.write(text)) await drained();
    if (gone) throw new ClientGone();
  }

  return {
    push(text) {
      parts.push(text);
      size += text.length;
      return size >= flushAt;
    },
    flush,
    async end() {
      await flush();
      out.end();
    },
    release() {
      out.off('close', onGone);
      out.off('error', onGone);
      out.off('drain', onDrain);
    },
  };
}
