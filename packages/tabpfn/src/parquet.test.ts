import { gzipSync } from 'node:zlib';
import { describe, expect, it } from '@jest/globals';
import { readParquet } from '@tabpfn-jobs/tabpfn-emulator';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { decodeParquet, decodeParquetColumns } from './parquet.js';

/**
 * A valid zstd frame made of raw (stored) blocks: any zstd decoder must accept it, so it exercises the
 * ZSTD codec path (pyarrow's default for the python client) without a zstd compressor in Node 20.
 */
function zstdStored(input: Uint8Array): Uint8Array {
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0])];
  const size = Buffer.alloc(4);
  size.writeUInt32LE(input.byteLength, 0);
  parts.push(size);
  const max = 128 * 1024;
  let offset = 0;
  do {
    const n = Math.min(max, input.byteLength - offset);
    const last = offset + n >= input.byteLength ? 1 : 0;
    const header = (n << 3) | last; // block type 0 = raw
    parts.push(Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff]), Buffer.from(input.subarray(offset, offset + n)));
    offset += n;
  } while (offset < input.byteLength);
  return new Uint8Array(Buffer.concat(parts));
}

const columnData = [
  { name: 'f', data: [1.5, null, 3.25], type: 'DOUBLE' as const },
  { name: 'i', data: [BigInt(7), BigInt(-2), null], type: 'INT64' as const },
  { name: 'j', data: [1, 2, 3], type: 'INT32' as const },
  { name: 's', data: ['red', 'red', null], type: 'STRING' as const },
  { name: 'b', data: [true, null, false], type: 'BOOLEAN' as const },
];
const expected = [
  [1.5, 7, 1, 'red', true],
  [null, -2, 2, 'red', null],
  [3.25, null, 3, null, false],
];

describe('parquet reading (client decodeParquet and the emulator reader)', () => {
  type Codec = 'UNCOMPRESSED' | 'SNAPPY' | 'GZIP' | 'ZSTD';
  const cases: [Codec, Record<string, (b: Uint8Array) => Uint8Array>][] = [
    ['UNCOMPRESSED', {}],
    ['SNAPPY', {}],
    ['GZIP', { GZIP: (b) => new Uint8Array(gzipSync(b)) }],
    ['ZSTD', { ZSTD: zstdStored }],
  ];
  it.each(cases)('reads %s pages, int64 as numbers, nulls as null', async (codec, compressors) => {
    const bytes = new Uint8Array(parquetWriteBuffer({ columnData, codec, compressors }));
    expect(await decodeParquet(bytes)).toEqual({ columns: ['f', 'i', 'j', 's', 'b'], rows: expected });
    expect(await readParquet(bytes)).toEqual({ columns: ['f', 'i', 'j', 's', 'b'], rows: expected });
  });

  it('throws on bytes that are not parquet', async () => {
    await expect(decodeParquet(new TextEncoder().encode('not parquet'))).rejects.toThrow();
  });

  it('reads columns, also from a small Buffer that shares Node\'s pool (as pg returns bytea)', async () => {
    const bytes = new Uint8Array(parquetWriteBuffer({ columnData }));
    const pooled = Buffer.from(bytes);
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.byteLength);
    const read = await decodeParquetColumns(pooled);
    expect(read.names).toEqual(['f', 'i', 'j', 's', 'b']);
    expect(read.columns).toEqual(read.names.map((_, j) => expected.map((row) => row[j])));
    expect((await decodeParquet(pooled)).rows).toEqual(expected);
  });
});
