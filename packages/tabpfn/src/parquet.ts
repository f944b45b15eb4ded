import { crc32c } from '@node-rs/crc32';
import { parquetMetadata, parquetRead, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { parquetWriteBuffer } from 'hyparquet-writer';

export type ParquetColumnType = 'DOUBLE' | 'STRING' | 'BOOLEAN';

export interface ParquetColumn {
  name: string;
  type: ParquetColumnType;
  data: (number | string | boolean | null)[];
}

/**
 * Writes one row group of nullable columns. hyparquet-writer is deterministic (no timestamps in the
 * footer), which the server-side dedup relies on: the same data must hash to the same CRC32C.
 */
export function writeParquet(columns: ParquetColumn[]): Uint8Array {
  const nRows = columns[0]?.data.length ?? 0;
  const buffer = parquetWriteBuffer({
    columnData: columns.map((c) => ({ name: c.name, type: c.type, data: c.data, nullable: true })),
    rowGroupSize: Math.max(1, nRows),
    createdBy: 'tabpfn-jobs',
  });
  return new Uint8Array(buffer);
}

export interface DecodedTable {
  columns: string[];
  rows: unknown[][];
}

/** Reads any parquet file pyarrow writes (uncompressed, snappy, zstd, gzip, ...); int64 cells become numbers. */
export async function decodeParquet(bytes: Uint8Array): Promise<DecodedTable> {
  const file = toArrayBuffer(bytes);
  const metadata = parquetMetadata(file);
  const columns = metadata.schema
    .slice(1)
    .filter((el) => !el.num_children)
    .map((el) => el.name);
  const objects = await parquetReadObjects({ file, metadata, compressors, rowFormat: 'object' });
  const rows = objects.map((row) => columns.map((name) => normaliseCell(row[name])));
  return { columns, rows };
}

/**
 * Reads a parquet file column by column (no row objects): for re-slicing a stored set, where rows
 * would cost an object per row and a property per cell.
 */
export async function decodeParquetColumns(bytes: Uint8Array): Promise<{ names: string[]; nRows: number; columns: unknown[][] }> {
  const file = toArrayBuffer(bytes);
  const metadata = parquetMetadata(file);
  const names = metadata.schema
    .slice(1)
    .filter((el) => !el.num_children)
    .map((el) => el.name);
  const nRows = Number(metadata.num_rows);
  const columns: unknown[][] = names.map(() => new Array<unknown>(nRows));
  await parquetRead({
    file,
    metadata,
    compressors,
    onChunk(chunk) {
      const j = names.indexOf(chunk.columnName);
      const out = columns[j];
      if (!out) return;
      const data = chunk.columnData as ArrayLike<unknown>;
      for (let i = 0; i < data.length && chunk.rowStart + i < nRows; i++) out[chunk.rowStart + i] = normaliseCell(data[i]);
    },
  });
  return { names, nRows, columns };
}

function normaliseCell(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value === undefined) return null;
  return value;
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) {
    return bytes.buffer;
  }
  // A copy: `slice` on a Node Buffer is a view, and a small Buffer (pg's bytea under 4 KB) shares an 8 KB pool.
  return new Uint8Array(bytes).buffer as ArrayBuffer;
}

/** Base64 of the big-endian CRC32C of the whole file: the format of GCS `x-goog-hash: crc32c=` and of the client's `hash`. */
export function crc32cBase64(bytes: Uint8Array): string {
  const value = crc32c(bytes);
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0, 0);
  return out.toString('base64');
}
