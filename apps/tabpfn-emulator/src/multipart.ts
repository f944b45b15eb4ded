import busboy from 'busboy';
import type { Request } from 'express';
import { EmulatorHttpError } from './http-helpers.js';

/**
 * multipart/form-data for the Gen L routes (docs/tabpfn-protocol.md §12): two small CSV files and a
 * few text fields, read whole (bounded) with busboy, as the api reads its uploads.
 */
export interface MultipartForm {
  fields: Record<string, string>;
  files: Record<string, Buffer>;
}

const MAX_BYTES = 10 * 1024 * 1024;
const tooLarge = () => new EmulatorHttpError(413, 'Request entity too large', 'PAYLOAD_TOO_LARGE');

export function readMultipart(req: Request): Promise<MultipartForm> {
  if (!req.is('multipart/form-data')) return Promise.reject(new EmulatorHttpError(422, 'Expected a multipart/form-data body', 'REQUEST_VALIDATION_ERROR'));
  return new Promise((resolve, reject) => {
    const form: MultipartForm = { fields: {}, files: {} };
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { fileSize: MAX_BYTES, fieldSize: 1024 * 1024, files: 4, fields: 20 } });
    } catch (err) {
      reject(new EmulatorHttpError(422, `Malformed multipart body: ${(err as Error).message}`, 'REQUEST_VALIDATION_ERROR'));
      return;
    }
    bb.on('field', (name, value) => {
      if (typeof name === 'string') form.fields[name] = value;
    });
    bb.on('file', (name, stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => reject(tooLarge()));
      stream.on('end', () => {
        if (typeof name === 'string') form.files[name] = Buffer.concat(chunks);
      });
    });
    bb.on('error', (err) => reject(new EmulatorHttpError(422, `Malformed multipart body: ${(err as Error).message}`, 'REQUEST_VALIDATION_ERROR')));
    bb.on('close', () => resolve(form));
    req.pipe(bb);
  });
}
