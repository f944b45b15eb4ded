/** The formats `GET /v1/jobs/{id}/result` streams a predict result in. */
export const RESULT_FORMATS = ['json', 'ndjson', 'csv'] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

export const RESULT_CONTENT_TYPES: Record<ResultFormat, string> = {
  json: 'application/json',
  ndjson: 'application/x-ndjson',
  csv: 'text/csv',
};

/** The format a file name asks for: `.csv`, `.ndjson`/`.jsonl`, `.json`; undefined for anything else. */
export function resultFormatFor(path: string): ResultFormat | undefined {
  const ext = /\.([^./\\]+)$/.exec(path)?.[1]?.toLowerCase();
  if (ext === 'csv') return 'csv';
  if (ext === 'ndjson' || ext === 'jsonl') return 'ndjson';
  if (ext === 'json') return 'json';
  return undefined;
}
