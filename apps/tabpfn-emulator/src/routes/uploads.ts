import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import express, { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { crc32cBase64 } from '../crc32c.js';
import { DatasetReadError, readDataset, type Table } from '../dataset-reader.js';
import type { EmulatorState, FileName, Upload, UploadFile } from '../emulator-state.js';
import { EmulatorHttpError, locals, sendError, sendGcsError, sendJson } from '../http-helpers.js';
import { injectFaults, rateLimit, requireToken, tagRoute } from '../middleware.js';
import { parseBody } from './validation.js';

const fileInfoSchema = z.object({
  format: z.enum(['parquet', 'csv']).default('parquet'),
  hash: z.string().optional(),
  size_bytes: z.number().int().min(0),
  use_chunks: z.boolean().optional(),
});

const prepareTrainSchema = z.object({
  x_train_info: fileInfoSchema,
  y_train_info: fileInfoSchema,
  description: z.string().optional(),
  force_reupload: z.boolean().optional(),
});

const prepareTestSchema = z.object({
  fitted_train_set_id: z.string().min(1),
  x_test_info: fileInfoSchema,
  force_reupload: z.boolean().optional(),
});

const REQUIRED_HEADERS = { 'Content-Type': 'application/octet-stream' };
const MAX_DATASET_BYTES = 100_000_000;

function signature(state: EmulatorState, path: string, expires: number): string {
  return createHmac('sha256', state.signingSecret).update(`PUT\n${path}\n${expires}`).digest('hex');
}

function newFile(name: FileName, info: z.infer<typeof fileInfoSchema>, chunkBytes: number): UploadFile {
  if (info.size_bytes > MAX_DATASET_BYTES) {
    throw new EmulatorHttpError(413, `${name} is ${info.size_bytes} bytes; the limit is ${MAX_DATASET_BYTES} bytes`, 'PAYLOAD_TOO_LARGE');
  }
  const n = Math.max(1, Math.ceil(info.size_bytes / chunkBytes));
  return { name, format: info.format, hash: info.hash, sizeBytes: info.size_bytes, chunks: new Array(n).fill(undefined) };
}

function uploadInfo(state: EmulatorState, req: Request, upload: Upload, file: UploadFile): Record<string, unknown> {
  const origin = state.publicUrl ?? `${req.protocol}://${req.get('host')}`;
  const expires = upload.expiresAt;
  const signed_urls = file.chunks.map((_, i) => {
    const path = `/_upload/${upload.id}/${file.name}/${i}`;
    return `${origin}${path}?expires=${expires}&signature=${signature(state, path, expires)}`;
  });
  return { signed_urls, expires_at: expires / 1000, required_headers: REQUIRED_HEADERS };
}

/** Assembles the chunks in URL order once all arrived, and checks them against the announced size and hash. */
function completeIfReady(state: EmulatorState, upload: Upload): void {
  const files = Object.values(upload.files);
  if (!files.every((f) => f.chunks.every((c) => c !== undefined))) return;
  upload.complete = true;
  if (upload.dedupKey) state.dedup.set(upload.dedupKey, upload.id);
}

export function assembled(file: UploadFile): Buffer {
  return Buffer.concat(file.chunks as Buffer[]);
}

/** The file's table, reading it on first use. Incomplete, mismatched or unreadable files are 400s. */
export async function tableOf(upload: Upload, name: FileName): Promise<Table> {
  const file = upload.files[name];
  if (!file) throw new EmulatorHttpError(400, `Upload ${upload.id} has no ${name}`, 'USER_ERROR');
  if (file.table) return file.table;
  const missing = file.chunks.flatMap((c, i) => (c === undefined ? [i] : []));
  if (missing.length) {
    throw new EmulatorHttpError(
      400,
      `Upload of ${name} is incomplete: chunks ${missing.join(', ')} of ${file.chunks.length} were never uploaded`,
      'UPLOAD_INCOMPLETE',
    );
  }
  const bytes = assembled(file);
  if (bytes.byteLength !== file.sizeBytes) {
    throw new EmulatorHttpError(400, `${name} has ${bytes.byteLength} bytes but ${file.sizeBytes} were announced`, 'UPLOAD_SIZE_MISMATCH');
  }
  if (file.hash && crc32cBase64(bytes) !== file.hash) {
    throw new EmulatorHttpError(400, `${name} does not match its announced crc32c hash ${file.hash}`, 'UPLOAD_HASH_MISMATCH');
  }
  try {
    file.table = await readDataset(bytes, file.format);
  } catch (err) {
    if (err instanceof DatasetReadError)
      throw new EmulatorHttpError(400, `Could not read ${name} as ${file.format}: ${err.message}`, 'USER_ERROR');
    throw err;
  }
  return file.table;
}

export function ownedFitted(state: EmulatorState, token: string, id: string) {
  const f = state.fitted.get(id);
  if (!f || f.token !== token) throw new EmulatorHttpError(404, `Fitted train set ${id} not found`, 'NOT_FOUND');
  return f;
}

export function uploadRoutes(state: EmulatorState, router: Router = Router()): Router {
  const expiresAt = () => Date.now() + state.config.uploadUrlTtlMs;

  router.post(
    '/tabpfn/prepare_train_set_upload',
    tagRoute(state, 'prepare_train_set_upload'),
    injectFaults(state),
    requireToken(state),
    rateLimit(state, 'upload'),
    (req: Request, res: Response) => {
      const body = parseBody(prepareTrainSchema, req.body);
      const token = locals(res).token as string;
      const c = state.countersFor(token);
      c.prepares += 1;
      c.trainPrepares += 1;
      const x = body.x_train_info;
      const y = body.y_train_info;
      const dedupKey =
        x.hash && y.hash ? `train|${token}|${x.format}|${x.hash}|${x.size_bytes}|${y.format}|${y.hash}|${y.size_bytes}` : undefined;
      const existing = dedupKey ? state.dedup.get(dedupKey) : undefined;
      if (existing && !body.force_reupload && state.uploads.has(existing)) {
        c.dedupHits += 1;
        return sendError(res, 409, 'Train set already exists', 'DUPLICATE_TRAIN_SET_UPLOAD', { train_set_upload_id: existing });
      }
      const upload: Upload = {
        id: randomUUID(),
        kind: 'train',
        token,
        files: {
          x_train: newFile('x_train', x, state.config.uploadChunkBytes),
          y_train: newFile('y_train', y, state.config.uploadChunkBytes),
        },
        createdAt: Date.now(),
        expiresAt: expiresAt(),
        description: body.description,
        dedupKey,
        complete: false,
      };
      state.uploads.set(upload.id, upload);
      sendJson(res, 200, {
        train_set_upload_id: upload.id,
        x_train_info: uploadInfo(state, req, upload, upload.files.x_train as UploadFile),
        y_train_info: uploadInfo(state, req, upload, upload.files.y_train as UploadFile),
      });
    },
  );

  router.post(
    '/tabpfn/prepare_test_set_upload',
    tagRoute(state, 'prepare_test_set_upload'),
    injectFaults(state),
    requireToken(state),
    rateLimit(state, 'upload'),
    (req: Request, res: Response) => {
      const body = parseBody(prepareTestSchema, req.body);
      const token = locals(res).token as string;
      const c = state.countersFor(token);
      c.prepares += 1;
      c.testPrepares += 1;
      ownedFitted(state, token, body.fitted_train_set_id);
      const x = body.x_test_info;
      const dedupKey = x.hash ? `test|${token}|${body.fitted_train_set_id}|${x.format}|${x.hash}|${x.size_bytes}` : undefined;
      const existing = dedupKey ? state.dedup.get(dedupKey) : undefined;
      if (existing && !body.force_reupload && state.uploads.has(existing)) {
        c.dedupHits += 1;
        return sendError(res, 409, 'Test set already exists', 'DUPLICATE_TEST_SET_UPLOAD', { test_set_upload_id: existing });
      }
      const upload: Upload = {
        id: randomUUID(),
        kind: 'test',
        token,
        files: { x_test: newFile('x_test', x, state.config.uploadChunkBytes) },
        createdAt: Date.now(),
        expiresAt: expiresAt(),
        fittedTrainSetId: body.fitted_train_set_id,
        dedupKey,
        complete: false,
      };
      state.uploads.set(upload.id, upload);
      sendJson(res, 200, { test_set_upload_id: upload.id, x_test_info: uploadInfo(state, req, upload, upload.files.x_test as UploadFile) });
    },
  );

  // The signed URL stands in for GCS: it checks expiry, signature and the signed headers, answers in
  // GCS's XML, and ignores the Authorization header the python client sends along.
  router.put(
    '/_upload/:uploadId/:file/:chunk',
    express.raw({ type: () => true, limit: MAX_DATASET_BYTES + 1 }),
    (req: Request, res: Response, next) => {
      const owner = state.uploads.get(String(req.params.uploadId))?.token;
      if (owner !== undefined) locals(res).token = owner;
      next();
    },
    tagRoute(state, 'upload'),
    injectFaults(state),
    (req: Request, res: Response) => {
      const { uploadId, file: fileName, chunk } = req.params as Record<string, string>;
      const expires = Number(req.query.expires);
      const sig = String(req.query.signature ?? '');
      const path = `/_upload/${uploadId}/${fileName}/${chunk}`;
      const expected = Number.isFinite(expires) ? signature(state, path, expires) : '';
      if (!expected || sig.length !== expected.length || !timingSafeEqual(Buffer.from(sig), Buffer.from(expected))) {
        return sendGcsError(
          res,
          403,
          'SignatureDoesNotMatch',
          'Access denied.',
          'The request signature we calculated does not match the signature you provided.',
        );
      }
      if (Date.now() > expires) {
        return sendGcsError(
          res,
          400,
          'ExpiredToken',
          'Invalid argument.',
          `The provided token has expired. Request signature expired at: ${new Date(expires).toISOString()}`,
        );
      }
      if ((req.headers['content-type'] ?? '').toLowerCase() !== REQUIRED_HEADERS['Content-Type']) {
        return sendGcsError(
          res,
          403,
          'SignatureDoesNotMatch',
          'Access denied.',
          'Signed header content-type is missing or differs from the signed value.',
        );
      }
      const upload = state.uploads.get(uploadId as string);
      const file = upload?.files[fileName as FileName];
      const index = Number(chunk);
      if (!upload || !file || !Number.isInteger(index) || index < 0 || index >= file.chunks.length) {
        return sendGcsError(res, 404, 'NoSuchUpload', 'The requested upload was not found.');
      }
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      file.chunks[index] = body;
      delete file.table;
      const c = state.countersFor(upload.token);
      c.uploads += 1;
      c.uploadedBytes += body.byteLength;
      completeIfReady(state, upload);
      res.setHeader('etag', `"${createHash('md5').update(body).digest('hex')}"`);
      res.setHeader('x-goog-hash', `crc32c=${crc32cBase64(body)}`);
      res.status(200).end();
    },
  );

  return router;
}
