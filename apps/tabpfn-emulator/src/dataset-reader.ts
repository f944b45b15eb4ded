import { parse } from 'csv-parse/sync';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

export type Cell = number | string | boolean | null;

export interface Table {
  columns: string[];
  rows: Cell[][];
}

export class DatasetReadError extends Error {}

const NA = new Set(['', 'na', 'nan', 'n/a', 'null', 'none']);

function cell(value: unknown): Cell {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number') return Number.isNaN(value) ? null : value;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (value instanceof Date) return value.getTime();
  // Decimals, nested values and the like: a string still gives the model something to match on.
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? Number(v) : v));
}

/** Parquet as pyarrow writes it: uncompressed, snappy, zstd, gzip, brotli, lz4; dictionary (category) columns included. */
export async function readParquet(bytes: Uint8Array): Promise<Table> {
  try {
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const metadata = parquetMetadata(file);
    const columns = metadata.schema
      .slice(1)
      .filter((el) => !el.num_children)
      .map((el) => el.name);
    const objects = await parquetReadObjects({ file, metadata, compressors, rowFormat: 'object' });
    // pandas may store its index as an extra column when written with index=True.
    const keep = columns.filter((c) => !/^__index_level_\d+__$/.test(c));
    return { columns: keep, rows: objects.map((o) => keep.map((c) => cell(o[c]))) };
  } catch (err) {
    throw new DatasetReadError(err instanceof Error ? err.message : String(err));
  }
}

/** CSV with a header row (`FileInfo.format: "csv"`); numeric columns become numbers, NA spellings nulls. */
export function readCsv(bytes: Uint8Array): Table {
  let records: string[][];
  try {
    records = parse(Buffer.from(bytes), { skip_empty_lines: true, relax_column_count: false }) as string[][];
  } catch (err) {
    throw new DatasetReadError(err instanceof Error ? err.message : String(err));
  }
  const [header, ...body] = records;
  if (!header) throw new DatasetReadError('CSV file has no header row');
  const rows: Cell[][] = body.map((r) => r.map((v) => (NA.has(v.trim().toLowerCase()) ? null : v)));
  for (let j = 0; j < header.length; j++) {
    const numeric = rows.every((r) => r[j] === null || (typeof r[j] === 'string' && Number.isFinite(Number(r[j]))));
    if (numeric) for (const r of rows) if (r[j] !== null) r[j] = Number(r[j]);
  }
  return { columns: header, rows };
}

export function readDataset(bytes: Uint8Array, format: 'parquet' | 'csv'): Promise<Table> | Table {
  return format === 'csv' ? readCsv(bytes) : readParquet(bytes);
}
