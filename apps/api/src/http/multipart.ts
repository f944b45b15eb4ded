import type { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Request } from 'express';
import { AppError, PayloadTooLargeError, ValidationError } from '@tabpfn-jobs/shared/errors';
import { isStorableString } from './json-guard.js';

const FIELD_MAX = 64 * 1024;

export interface MultipartResult<R> {
  fields: Record<string, string>;
  /** What `onFile` made of the `file` part; undefined when the body had none. */
  file: R | undefined;
  /** Form fields that arrived after the file part (too late for `onFile` to see). */
  lateFields: string[];
}

/**
 * Streams a multipart body: form fields as strings, and the one part named `file` handed to
 * `onFile` (with the fields seen before it) while it arrives. Everything settles through `fail` or
 * `finish`, each called at most once, and every promise involved has its handler attached when it
 * is created, so a failure at any moment (first chunk, last chunk, a field after the file) becomes
 * this promise's rejection and never an unhandled one. On failure the rest of the body is drained
 * (and the error handler answers with `Connection: close`), so the socket is released.
 */
export function readMultipart<R>(
  req: Request,
  maxFileBytes: number,
  onFile: (file: Readable, fieldsSoFar: Readonly<Record<string, string>>) => Promise<R>,
): Promise<MultipartResult<R>> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { fileSize: maxFileBytes, files: 2, fields: 50, fieldSize: FIELD_MAX } });
    } catch (err) {
      reject(new ValidationError([{ field: 'body', message: (err as Error).message }]));
      return;
    }
    const fields: Record<string, string> = {};
    const lateFields: string[] = [];
    let fileStream: Readable | undefined;
    let fileResult: { value: R } | undefined;
    let busboyDone = false;
    let settled = false;

    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      req.unpipe(bb);
      req.resume();
      fileStream?.destroy();
      reject(err);
    };
    const finishIfDone = () => {
      if (settled || !busboyDone || (fileStream && !fileResult)) return;
      settled = true;
      resolve({ fields, file: fileResult?.value, lateFields });
    };
    const malformed = (err: Error) => fail(new ValidationError([{ field: 'body', message: `malformed multipart body: ${err.message}` }]));

    // A part whose Content-Disposition has no plain `name` parameter reaches us with name undefined.
    const unnamed = (name: string | undefined) =>
      typeof name !== 'string' ? new ValidationError([{ field: 'body', message: 'a form part has no name (Content-Disposition: form-data; name="…")' }]) : undefined;
    bb.on('field', (name, value, info) => {
      const noName = unnamed(name);
      if (noName) return fail(noName);
      if (info.valueTruncated) return fail(new ValidationError([{ field: name, message: `is longer than ${FIELD_MAX} bytes` }]));
      if (!isStorableString(name) || !isStorableString(value))
        return fail(new ValidationError([{ field: isStorableString(name) ? name : 'body', message: 'contains a NUL character' }]));
      fields[name] = value;
      if (fileStream) lateFields.push(name);
    });
    bb.on('filesLimit', () => fail(new ValidationError([{ field: 'file', message: 'send one file part only' }])));
    bb.on('fieldsLimit', () => fail(new ValidationError([{ field: 'body', message: 'too many form fields' }])));
    bb.on('file', (name, stream) => {
      // The part's stream errors in two ways: busboy destroys it when the body ends before the part's
      // boundary (and then errors itself: `bb.on('error')` below says malformed), and `onFile`'s own
      // pipeline destroys it when it refuses the file (with its error or an AbortError; its verdict
      // arrives as its rejection). Neither is the answer here, so this listener only keeps the error
      // from being unhandled; reading it as "malformed" would hide the consumer's verdict.
      stream.on('error', () => undefined);
      const noName = unnamed(name);
      if (noName) {
        stream.resume();
        return fail(noName);
      }
      if (name !== 'file' || fileStream) {
        stream.resume();
        const message = name !== 'file' ? 'is a file part; the CSV goes in a part named "file"' : 'send one file part only';
        return fail(new ValidationError([{ field: name !== 'file' ? name : 'file', message }]));
      }
      fileStream = stream;
      stream.on('limit', () => fail(new PayloadTooLargeError(`The CSV file is larger than ${maxFileBytes} bytes.`)));
      // Async, so that even a synchronous throw in onFile lands in `fail`, not in busboy's emit.
      (async () => onFile(stream, { ...fields }))().then(
        (value) => {
          fileResult = { value };
          finishIfDone();
        },
        (err: unknown) => {
          // The consumer's verdict (a ValidationError naming the line…) stands. Anything else while
          // busboy has failed is the body's fault (it ended early): malformed. Otherwise it is a bug.
          if (!(err instanceof AppError) && bb.errored) return malformed(bb.errored);
          fail(err);
        },
      );
    });
    bb.on('error', (err) => malformed(err as Error));
    bb.on('close', () => {
      busboyDone = true;
      finishIfDone();
    });
    req.on('error', (err) => fail(new AppError(400, 'request_aborted', 'Bad Request', { detail: `The request body failed: ${err.message}` })));
    // A client that goes away mid-body leaves busboy waiting forever: settle instead.
    req.on('close', () => {
      if (!req.complete) fail(new AppError(400, 'request_aborted', 'Bad Request', { detail: 'The request was aborted.' }));
    });
    req.pipe(bb);
  });
}
