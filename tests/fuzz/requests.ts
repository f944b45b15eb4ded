import { deflateSync, gzipSync, brotliCompressSync } from 'node:zlib';
import fc from 'fast-check';
import { type JsonSchema, type SchemaArbitraryOptions, schemaArbitrary } from './schema-arbitrary.js';
import type { Delivery } from './wire.js';

/**
 * Requests for every operation of the OpenAPI document: generated from its schemas (valid-ish),
 * then optionally broken in one way (a mutation). Values the fuzzer only knows at run time (the API
 * key, ids of models and jobs it created) are placeholders resolved when the request is sent.
 */

export type AuthMode =
  | 'valid'
  | 'bare'
  | 'wrong'
  | 'malformed'
  | 'none'
  | 'lowercase-scheme'
  | 'padded'
  | 'doubled'
  | 'oversized'
  | 'admin'
  | 'admin-wrong'
  | 'admin-garbage';

export interface Param {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required: boolean;
  schema: JsonSchema;
}

export interface Operation {
  id: string;
  method: string;
  template: string;
  params: Param[];
  body?: { required: boolean; json?: JsonSchema; multipart?: JsonSchema };
  security: 'none' | 'bearer' | 'admin';
}

export interface FormPart {
  name: string;
  value: string | Buffer;
  filename?: string;
  /** Extra part headers, or a replacement Content-Disposition. */
  disposition?: string;
  contentType?: string;
}

export interface FormBody {
  boundary: string;
  parts: FormPart[];
  /** Line ending of the framing. */
  eol: '\r\n' | '\n';
  closing: boolean;
}

export interface FuzzRequest {
  op: string;
  /** How the request was made: `schema`, or the mutation (`json:numbers@features[0][1]`, …). */
  kind: string;
  method: string;
  /** Path with `{{pool:n}}` placeholders (resolved at send time), percent-encoded as it goes on the wire. */
  path: string;
  /** Raw query string without `?` ('' for none). */
  query: string;
  headers: [string, string][];
  auth: AuthMode;
  body?: Buffer;
  /** The body before serialisation, so a mutation can break it structurally. */
  json?: { value: unknown };
  form?: FormBody;
  delivery: Delivery;
  /** Raw protocol text (`delivery.mode === 'raw'`), with `{{auth}}` and `{{host}}` placeholders. */
  raw?: string;
}

// ---------------------------------------------------------------------------------------------
// Operations

type Doc = {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: Param[];
        requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> };
        security?: Record<string, string[]>[];
      }
    >
  >;
  components?: { schemas?: Record<string, JsonSchema> };
  security?: Record<string, string[]>[];
};

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

export function operationsOf(doc: Doc): Operation[] {
  const out: Operation[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.includes(method)) continue;
      const security = op.security ?? doc.security ?? [];
      const schemes = security.flatMap((s) => Object.keys(s));
      const content = op.requestBody?.content;
      out.push({
        id: `${method.toUpperCase()} ${template}`,
        method: method.toUpperCase(),
        template,
        params: op.parameters ?? [],
        body: content
          ? {
              required: op.requestBody?.required ?? false,
              json: content['application/json']?.schema,
              multipart: content['multipart/form-data']?.schema,
            }
          : undefined,
        security: schemes.includes('adminBasic') ? 'admin' : schemes.includes('bearerAuth') ? 'bearer' : 'none',
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Schema-generated (valid-ish) requests

export interface GeneratorContext {
  components: Record<string, JsonSchema>;
  media: SchemaArbitraryOptions['media'];
  refine: SchemaArbitraryOptions['refine'];
  /** Which pool of known ids a parameter draws from (`model`, `job`, `key`…), or none. */
  poolFor(op: Operation, param: string): string | undefined;
}

/** Header values go on the wire as latin1: keep them to visible ASCII and spaces. */
const headerSafe = (v: string) => v.replace(/[^\x20-\x7e]/g, '_');

const IDEMPOTENCY_KEYS = ['fuzz-idem-1', 'fuzz-idem-2', 'fuzz-idem-3'];
const ACCEPTS = [
  'application/json',
  'text/csv',
  '*/*',
  'application/xml',
  'text/*',
  'application/problem+json',
  'text/csv;q=0.5, application/json;q=0.9',
  'text/html',
];

function authArb(op: Operation, validWeight: number): fc.Arbitrary<AuthMode> {
  if (op.security === 'admin') {
    return fc.oneof(
      { weight: validWeight, arbitrary: fc.constant<AuthMode>('admin') },
      { weight: 1, arbitrary: fc.constantFrom<AuthMode>('admin-wrong', 'admin-garbage', 'none', 'valid') },
    );
  }
  return fc.oneof(
    { weight: validWeight, arbitrary: fc.constant<AuthMode>('valid') },
    { weight: 2, arbitrary: fc.constantFrom<AuthMode>('bare', 'wrong', 'malformed', 'none') },
    { weight: 1, arbitrary: fc.constantFrom<AuthMode>('lowercase-scheme', 'padded', 'doubled', 'oversized', 'admin') },
  );
}

function paramValueArb(op: Operation, p: Param, ctx: GeneratorContext): fc.Arbitrary<string> {
  const fromSchema = schemaArbitrary(p.schema, { components: ctx.components }).map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
  const pool = ctx.poolFor(op, p.name);
  if (!pool) return fromSchema;
  return fc.oneof(
    { weight: 3, arbitrary: fc.oneof(fc.constant(0), fc.nat()).map((n) => `{{${pool}:${n}}}`) },
    { weight: 1, arbitrary: fromSchema },
  );
}

function fillPath(template: string, values: Record<string, string>): string {
  return template.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const v = values[name] ?? '';
    return v.startsWith('{{') ? v : encodeURIComponent(v);
  });
}

const boundaryArb = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF-_'), minLength: 6, maxLength: 40 }).map((s) => `fuzz${s}`);

/** A form from the multipart schema: every value a string (JSON for structured ones), the file part as a CSV file. */
function formArb(schema: JsonSchema, ctx: GeneratorContext): fc.Arbitrary<FormBody> {
  const fields = schemaArbitrary(schema, { components: ctx.components, media: ctx.media, refine: ctx.refine });
  return fc.record({ fields, boundary: boundaryArb, fileFirst: fc.boolean() }).map(({ fields, boundary, fileFirst }) => {
    const entries = Object.entries(fields as Record<string, unknown>);
    const isFile = (name: string) => name === 'file';
    const parts: FormPart[] = entries
      .filter(([name]) => !isFile(name))
      .map(([name, value]) => ({ name, value: typeof value === 'string' ? value : JSON.stringify(value) }));
    const file = entries.find(([name]) => isFile(name));
    if (file) {
      const part: FormPart = { name: 'file', value: String(file[1]), filename: 'data.csv', contentType: 'text/csv' };
      if (fileFirst) parts.unshift(part);
      else parts.push(part);
    }
    return { boundary, parts, eol: '\r\n' as const, closing: true };
  });
}

export function encodeForm(form: FormBody): Buffer {
  const { eol } = form;
  const out: Buffer[] = [];
  for (const p of form.parts) {
    const disposition =
      p.disposition ?? `Content-Disposition: form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    const head = `--${form.boundary}${eol}${disposition}${eol}${p.contentType ? `Content-Type: ${p.contentType}${eol}` : ''}${eol}`;
    out.push(Buffer.from(head, 'utf8'), Buffer.isBuffer(p.value) ? p.value : Buffer.from(p.value, 'utf8'), Buffer.from(eol));
  }
  if (form.closing) out.push(Buffer.from(`--${form.boundary}--${eol}`));
  return Buffer.concat(out);
}

/** A request for `op` with parameters and body drawn from the document's schemas. */
export function schemaRequestArb(op: Operation, ctx: GeneratorContext, validAuthWeight = 8): fc.Arbitrary<FuzzRequest> {
  const path = op.params.filter((p) => p.in === 'path');
  const query = op.params.filter((p) => p.in === 'query');
  const header = op.params.filter((p) => p.in === 'header');
  const pathArb = fc.record(Object.fromEntries(path.map((p) => [p.name, paramValueArb(op, p, ctx)])));
  const queryArb = fc.record(Object.fromEntries(query.map((p) => [p.name, paramValueArb(op, p, ctx)])), {
    requiredKeys: query.filter((p) => p.required).map((p) => p.name),
  });
  const headerArb = fc.record(
    Object.fromEntries(
      header.map((p) => {
        const name = p.name.toLowerCase();
        if (name === 'idempotency-key') {
          return [
            p.name,
            fc.oneof(
              fc.constantFrom(...IDEMPOTENCY_KEYS),
              schemaArbitrary(p.schema).map((v) => headerSafe(String(v))),
            ),
          ];
        }
        // No worker runs during the fuzz: a real wait would only hold the request for N seconds.
        if (name === 'prefer') return [p.name, fc.constantFrom('wait=0', 'respond-async', 'wait=0, respond-async', 'handling=lenient')];
        return [p.name, schemaArbitrary(p.schema).map((v) => headerSafe(String(v)))];
      }),
    ),
    { requiredKeys: header.filter((p) => p.required).map((p) => p.name) },
  );
  type BodyChoice = { json?: { value: unknown }; form?: FormBody } | undefined;
  const bodies: fc.Arbitrary<BodyChoice>[] = [];
  if (op.body?.json) {
    const value = schemaArbitrary(op.body.json, { components: ctx.components, media: ctx.media, refine: ctx.refine });
    bodies.push(value.map((v) => ({ json: { value: v } })));
  }
  if (op.body?.multipart) bodies.push(formArb(op.body.multipart, ctx).map((form) => ({ form })));
  let bodyArb: fc.Arbitrary<BodyChoice> = bodies.length ? fc.oneof(...bodies) : fc.constant(undefined);
  if (op.body && !op.body.required) bodyArb = fc.option(bodyArb, { nil: undefined, freq: 4 }).map((b) => b ?? undefined);

  return fc
    .record({
      pathValues: pathArb,
      queryValues: queryArb,
      headerValues: headerArb,
      body: bodyArb,
      auth: authArb(op, validAuthWeight),
      accept: fc.option(fc.constantFrom(...ACCEPTS), { nil: undefined, freq: 3 }),
    })
    .map(({ pathValues, queryValues, headerValues, body, auth, accept }) => {
      const headers: [string, string][] = Object.entries(headerValues as Record<string, string>).map(([k, v]) => [k, v]);
      if (accept) headers.push(['Accept', accept]);
      const req: FuzzRequest = {
        op: op.id,
        kind: 'schema',
        method: op.method,
        path: fillPath(op.template, pathValues as Record<string, string>),
        query: Object.entries(queryValues as Record<string, string>)
          .map(([k, v]) => `${encodeURIComponent(k)}=${v.startsWith('{{') ? v : encodeURIComponent(v)}`)
          .join('&'),
        headers,
        auth,
        delivery: { mode: 'whole' },
      };
      if (body?.json) {
        req.json = body.json;
        req.body = Buffer.from(JSON.stringify(body.json.value) ?? 'null', 'utf8');
        req.headers.push(['Content-Type', 'application/json']);
      } else if (body?.form) {
        req.form = body.form;
        req.body = encodeForm(body.form);
        req.headers.push(['Content-Type', `multipart/form-data; boundary=${body.form.boundary}`]);
      }
      return req;
    });
}

// ---------------------------------------------------------------------------------------------
// Structured JSON edits

type Seg = string | number;

function nodePaths(v: unknown, path: Seg[] = [], out: Seg[][] = []): Seg[][] {
  if (out.length >= 5000) return out;
  out.push(path);
  if (Array.isArray(v)) for (let i = 0; i < v.length; i++) nodePaths(v[i], [...path, i], out);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) nodePaths(x, [...path, k], out);
  return out;
}

function getAt(root: unknown, path: Seg[]): unknown {
  let v = root;
  for (const s of path) v = (v as Record<Seg, unknown>)[s];
  return v;
}

/** A copy of `root` with the node at `path` replaced (own properties only: `__proto__` stays a key). */
function setAt(root: unknown, path: Seg[], value: unknown): unknown {
  if (!path.length) return value;
  const copy = JSON.parse(JSON.stringify(root)) as unknown;
  const parent = getAt(copy, path.slice(0, -1)) as Record<Seg, unknown>;
  Object.defineProperty(parent, path[path.length - 1]!, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

export function fieldName(path: Seg[]): string {
  let out = '';
  for (const s of path) out += typeof s === 'number' ? `[${s}]` : out ? `.${s}` : s;
  return out || '(root)';
}

const RAW = (i: number) => `@@FUZZRAW${i}@@`;

/** JSON text of `value`, with `"@@FUZZRAW<i>@@"` string nodes replaced by `raws[i]` verbatim (tokens JSON.stringify cannot write). */
export function serialize(value: unknown, raws: (string | Buffer)[] = []): Buffer {
  const text = JSON.stringify(value) ?? '';
  const out: Buffer[] = [];
  let last = 0;
  for (const m of text.matchAll(/"@@FUZZRAW(\d+)@@"/g)) {
    out.push(Buffer.from(text.slice(last, m.index), 'utf8'));
    const raw = raws[Number(m[1])]!;
    out.push(Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8'));
    last = m.index + m[0].length;
  }
  out.push(Buffer.from(text.slice(last), 'utf8'));
  return Buffer.concat(out);
}

/** Picks a node: with `prefer` matching some nodes, those most of the time. */
function pickNode(value: unknown, prefer?: (v: unknown) => boolean): fc.Arbitrary<Seg[]> {
  const all = nodePaths(value);
  const preferred = prefer ? all.filter((p) => prefer(getAt(value, p))) : [];
  return fc.tuple(fc.nat(), fc.integer({ min: 0, max: 9 })).map(([n, coin]) => {
    const from = preferred.length && coin < 7 ? preferred : all;
    return from[n % from.length]!;
  });
}

function withJson(req: FuzzRequest, kind: string, value: unknown, raws: (string | Buffer)[] = []): FuzzRequest {
  // A body with raw tokens spliced in is no JSON value any more: further edits work on its bytes only.
  return { ...req, kind, json: raws.length ? undefined : { value }, body: serialize(value, raws), form: undefined };
}

export const TYPE_SAMPLES: unknown[] = [
  'x',
  '',
  0,
  -1,
  1.5,
  true,
  false,
  null,
  [],
  [1, 'a'],
  {},
  { a: 1 },
  [[]],
  '0',
  'true',
  'null',
  [null],
];

/** JSON text for a number position: extremes, and tokens that are not JSON at all. */
export const NUMBER_TOKENS = [
  '1e308',
  '-1e308',
  '1e999',
  '-1e999',
  '"1e999"',
  '"-1e999"',
  '"Infinity"',
  '"-Infinity"',
  '"NaN"',
  '9007199254740993',
  '-9007199254740993',
  '-0',
  '-0.0',
  '0e0',
  '1e-400',
  '4.9e-324',
  '1.7976931348623157e308',
  `"${'9'.repeat(400)}"`,
  '9'.repeat(400),
  `0.${'0'.repeat(400)}1`,
  `-${'1'.repeat(1000)}`,
  '1E+2',
  '123456789012345678901234567890',
  '"0x1F"',
  '"1_000"',
  '" 1 "',
  '"\uff11\uff12"',
  '"1,5"',
  'NaN',
  'Infinity',
  '-Infinity',
  '+1',
  '.5',
  '01',
  '0x10',
  '1.',
  '1e',
  '--1',
];

export const UNICODE_STRINGS = [
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\ud800y',
  '\udc00\ud800',
  '\u202eevil\u202c',
  '\u200f\u200e\u061c',
  'e\u0301',
  `a${'\u0301'.repeat(500)}`,
  '\u{1f469}\u200d\u{1f469}\u200d\u{1f467}\u200d\u{1f466}',
  '\u{1f3f3}\ufe0f\u200d\u{1f308}',
  '\ufeff',
  '\u200b',
  '\uffff',
  '\ufffe',
  '\u{10ffff}',
  '\u{1d54f}',
  '\u0130\u0131',
  '\u0085',
  '\u2028\u2029',
  '\r\n',
  '\u001b[31m',
  "'; DROP TABLE jobs;--",
  '../../etc/passwd',
  '\ufdfa',
  'Z\u0334\u0321\u0327\u031b\u034e',
];

/** Byte sequences that are not UTF-8 (overlong, surrogates, out of range, truncated, stray continuation). */
export const BAD_UTF8 = [
  [0xc0, 0x80],
  [0xc1, 0xbf],
  [0xff],
  [0xfe, 0xff],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xe2, 0x82],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0x80],
  [0xe0, 0x80, 0xaf],
].map((b) => Buffer.from(b));

const BAD_JSON_BODIES = [
  '',
  ' ',
  'null',
  '[]',
  '""',
  '0',
  '{}',
  '{',
  '}',
  '{"a":}',
  '{"a" 1}',
  '[1,]',
  '{,}',
  '\u0000',
  '{"a":1}{"b":2}',
  "{'a':1}",
  '{"a":1,}',
  'true false',
  '\ufeff{}',
];

function jsonMutations(req: FuzzRequest): fc.Arbitrary<FuzzRequest>[] {
  if (!req.json) return [];
  const value = req.json.value;
  const isNum = (v: unknown) => typeof v === 'number';
  const isStr = (v: unknown) => typeof v === 'string';
  const isObj = (v: unknown) => !!v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0;
  const objects = nodePaths(value).filter((p) => isObj(getAt(value, p)));
  const out: fc.Arbitrary<FuzzRequest>[] = [
    fc
      .tuple(pickNode(value), fc.constantFrom(...TYPE_SAMPLES))
      .map(([p, v]) => withJson(req, `json:type-swap@${fieldName(p)}=${JSON.stringify(v)}`, setAt(value, p, v))),
    fc
      .tuple(pickNode(value, isNum), fc.constantFrom(...NUMBER_TOKENS))
      .map(([p, t]) =>
        withJson(req, `json:number@${fieldName(p)}=${t.length > 24 ? `${t.slice(0, 20)}…(${t.length})` : t}`, setAt(value, p, RAW(0)), [t]),
      ),
    fc
      .tuple(pickNode(value, isStr), fc.constantFrom(...UNICODE_STRINGS))
      .map(([p, s]) => withJson(req, `json:unicode@${fieldName(p)}=${JSON.stringify(s).slice(0, 40)}`, setAt(value, p, s))),
    fc
      .tuple(pickNode(value, isStr), fc.nat(BAD_UTF8.length - 1))
      .map(([p, i]) =>
        withJson(req, `json:bad-utf8@${fieldName(p)}=${BAD_UTF8[i]!.toString('hex')}`, setAt(value, p, RAW(0)), [
          Buffer.concat([Buffer.from('"a'), BAD_UTF8[i]!, Buffer.from('b"')]),
        ]),
      ),
    fc
      .tuple(pickNode(value), fc.constantFrom(33, 64, 1000, 10_000, 100_000), fc.boolean())
      .map(([p, depth, arrays]) =>
        withJson(req, `json:deep(${depth}${arrays ? '[' : '{'})@${fieldName(p)}`, setAt(value, p, RAW(0)), [
          arrays ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"k":'.repeat(depth)}1${'}'.repeat(depth)}`,
        ]),
      ),
    fc
      .tuple(pickNode(value, isStr), fc.constantFrom(16_385, 70_000, 1_100_000), fc.constantFrom('x', '\u00e9', '\u{1f600}'))
      .map(([p, n, c]) => withJson(req, `json:long-string(${n}×${JSON.stringify(c)})@${fieldName(p)}`, setAt(value, p, c.repeat(n)))),
    fc
      .constantFrom(...BAD_JSON_BODIES)
      .map((b) => ({ ...req, kind: `json:body=${JSON.stringify(b)}`, json: undefined, body: Buffer.from(b, 'utf8') })),
  ];
  if (objects.length) {
    out.push(
      fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(...TYPE_SAMPLES), fc.boolean()).map(([o, k, v, first]) => {
        const p = objects[o % objects.length]!;
        const obj = getAt(value, p) as Record<string, unknown>;
        const keys = Object.keys(obj);
        const key = keys[k % keys.length]!;
        const entries = keys.map((kk) => `${JSON.stringify(kk)}:${JSON.stringify(obj[kk])}`);
        const dup = `${JSON.stringify(key)}:${JSON.stringify(v)}`;
        const text = `{${(first ? [dup, ...entries] : [...entries, dup]).join(',')}}`;
        return withJson(
          req,
          `json:duplicate-key@${fieldName([...p, key])}=${JSON.stringify(v)}(${first ? 'first' : 'last'})`,
          setAt(value, p, RAW(0)),
          [text],
        );
      }),
      fc
        .tuple(fc.nat(), fc.nat(), fc.constantFrom(...UNICODE_STRINGS, '__proto__', 'constructor', 'prototype', '', ' '))
        .map(([o, k, name]) => {
          const p = objects[o % objects.length]!;
          const obj = getAt(value, p) as Record<string, unknown>;
          const keys = Object.keys(obj);
          const key = keys[k % keys.length]!;
          const renamed: Record<string, unknown> = {};
          for (const kk of keys)
            Object.defineProperty(renamed, kk === key ? name : kk, {
              value: obj[kk],
              enumerable: true,
              writable: true,
              configurable: true,
            });
          return withJson(req, `json:key-rename@${fieldName([...p, key])}→${JSON.stringify(name).slice(0, 30)}`, setAt(value, p, renamed));
        }),
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Multipart edits

function withForm(req: FuzzRequest, kind: string, form: FormBody, contentType?: string): FuzzRequest {
  const headers = req.headers.filter(([k]) => k.toLowerCase() !== 'content-type');
  headers.push(['Content-Type', contentType ?? `multipart/form-data; boundary=${form.boundary}`]);
  return { ...req, kind, form, body: encodeForm(form), headers, json: undefined };
}

const CSV_NASTIES = [
  Buffer.from('a,b\n1,"unclosed\n2,3\n'),
  Buffer.from('a,a,a\n1,2,3\n4,5,6\n'),
  Buffer.from('\ufeffa,b,y\r\n1,2,x\r\n3,4,z\r\n'),
  Buffer.from('a;b;y\n1;2;x\n3;4;z\n'),
  Buffer.from('a\tb\ty\n1\t2\tx\n3\t4\tz\n'),
  Buffer.from('a,b,y\n1,2\n3,4,z,9\n'),
  Buffer.from('a,b,y\n1,2,x\n'),
  Buffer.from(''),
  Buffer.from('\n\n\n'),
  Buffer.from('a,b,y\n'),
  Buffer.from(`${Array.from({ length: 3000 }, (_, i) => `c${i}`).join(',')},y\n${'1,'.repeat(3000)}x\n${'2,'.repeat(3000)}z\n`),
  Buffer.from('a,b,y\n1e999,-1e999,x\nInfinity,NaN,z\n-0,9007199254740993,x\n'),
  Buffer.from('a,b,y\n"1,5","2\n3",x\n"""",\'q\',z\n'),
  Buffer.from('a,b,y\n1,2,x\u0000\n3,4,z\n'),
  Buffer.concat([Buffer.from('a,b,y\n1,2,x'), Buffer.from([0xc0, 0x80]), Buffer.from('\n3,4,z\n')]),
  Buffer.concat([Buffer.from('a'), Buffer.from([0xff, 0xfe]), Buffer.from(',b,y\n1,2,x\n3,4,z\n')]),
  Buffer.from('\ud800,b,y\n1,2,x\n3,4,z\n', 'utf16le'),
  Buffer.from(`a,b,y\n${'1,2,x\n3,4,z\n'.repeat(20_000)}`),
  Buffer.from(`a,b,y\n"${'x'.repeat(200_000)}",2,x\n3,4,z\n`),
];

const DELIMITERS = [';', '\t', '', 'ab', '\n', '"', ',', '|', '\u0000', '\u00e9', ' '];

function formMutations(req: FuzzRequest): fc.Arbitrary<FuzzRequest>[] {
  const form = req.form;
  if (!form) return [];
  const fileIdx = form.parts.findIndex((p) => p.name === 'file');
  const edit = (fn: (f: FormBody) => void): FormBody => {
    const f: FormBody = { ...form, parts: form.parts.map((p) => ({ ...p })) };
    fn(f);
    return f;
  };
  const out: fc.Arbitrary<FuzzRequest>[] = [
    fc
      .constantFrom(
        'multipart/form-data',
        'multipart/form-data; boundary=',
        'multipart/form-data; boundary="unterminated',
        'multipart/form-data; boundary=other',
        'multipart/mixed; boundary=x',
      )
      .map((ct) => withForm(req, `form:content-type=${ct}`, form, ct.replace('boundary=x', `boundary=${form.boundary}`))),
    fc.constant(
      withForm(
        req,
        'form:no-closing-boundary',
        edit((f) => {
          f.closing = false;
        }),
      ),
    ),
    fc.constant(
      withForm(
        req,
        'form:lf-framing',
        edit((f) => {
          f.eol = '\n';
        }),
      ),
    ),
    fc.constantFrom(...CSV_NASTIES.keys()).map((i) =>
      withForm(
        req,
        `form:csv#${i}`,
        edit((f) => {
          const part = f.parts.find((p) => p.name === 'file');
          if (part) part.value = CSV_NASTIES[i]!;
          else f.parts.push({ name: 'file', value: CSV_NASTIES[i]!, filename: 'x.csv' });
        }),
      ),
    ),
    fc.constantFrom(...DELIMITERS).map((d) =>
      withForm(
        req,
        `form:delimiter=${JSON.stringify(d)}`,
        edit((f) => void f.parts.unshift({ name: 'delimiter', value: d })),
      ),
    ),
    fc.constant(
      withForm(
        req,
        'form:second-file',
        edit((f) => void f.parts.push({ name: 'file', value: 'a,y\n1,x\n2,z\n', filename: 'b.csv' })),
      ),
    ),
    fc.constant(
      withForm(
        req,
        'form:file-under-other-name',
        edit((f) => void f.parts.push({ name: 'data', value: 'a,y\n1,x\n', filename: 'c.csv' })),
      ),
    ),
    fc.constant(
      withForm(
        req,
        'form:huge-field',
        edit((f) => void f.parts.unshift({ name: 'description', value: 'd'.repeat(70_000) })),
      ),
    ),
    fc.constant(
      withForm(
        req,
        'form:60-fields',
        edit((f) => void f.parts.unshift(...Array.from({ length: 60 }, (_, i) => ({ name: `f${i}`, value: 'v' })))),
      ),
    ),
    fc
      .constantFrom(
        '',
        'x',
        '"x',
        'name=',
        'name="\u0000"',
        "name*=UTF-8''%E2%80%AE",
        'name="file"; filename="../../etc/passwd"',
        'name="file"; filename*=UTF-8\'\'%F0%9F%98%80.csv',
      )
      .map((d) =>
        withForm(
          req,
          `form:disposition=${JSON.stringify(d)}`,
          edit((f) => {
            const p = f.parts[Math.max(fileIdx, 0)];
            if (p) p.disposition = `Content-Disposition: form-data; ${d}`;
          }),
        ),
      ),
    fc
      .tuple(
        fc.constantFrom('config', 'quantiles', 'categorical_features', 'webhook_events', 'target_column', 'task', 'output_type'),
        fc.constantFrom(
          '{',
          '[',
          '"x"',
          '{"inference_config":{"k":"\\u0000"}}',
          `${'['.repeat(5000)}${']'.repeat(5000)}`,
          '[1e999]',
          '\u0000',
          ',,,',
          '[1,2',
          '{"n_estimators":1e999}',
          '"\\ud800"',
          'null',
        ),
      )
      .map(([name, value]) =>
        withForm(
          req,
          `form:field ${name}=${JSON.stringify(value).slice(0, 30)}`,
          edit((f) => {
            f.parts = f.parts.filter((p) => p.name !== name);
            f.parts.unshift({ name, value });
          }),
        ),
      ),
  ];
  if (fileIdx >= 0) {
    out.push(
      fc.constant(
        withForm(
          req,
          'form:file-without-filename',
          edit((f) => void delete f.parts[fileIdx]!.filename),
        ),
      ),
    );
    out.push(
      fc.constant(
        withForm(
          req,
          'form:no-file',
          edit((f) => void f.parts.splice(fileIdx, 1)),
        ),
      ),
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Edits that apply to any request

const BAD_CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data',
  'application/json; charset=latin1',
  'application/json; charset=iso-8859-1',
  'application/json; charset=utf-16',
  'application/json; charset=utf-7',
  'application/json; charset="utf-8"',
  'application/json;charset=UTF-8;foo',
  'APPLICATION/JSON',
  'application/merge-patch+json',
  'application/json, text/plain',
  'text/csv',
  '*/*',
  'a/b/c',
  ';;;',
  '',
];

const BAD_IDS = [
  'not-a-uuid',
  '..',
  '.',
  '%2e%2e',
  '..%2f..%2f..%2fetc%2fpasswd',
  '%00',
  '%ff',
  '%',
  '%zz',
  '%c0%af',
  'x'.repeat(3000),
  '8F14E45F-CEEA-467A-9AF1-4C3D2E1F0A9B',
  '%7B8f14e45f-ceea-467a-9af1-4c3d2e1f0a9b%7D',
  '8f14e45f-ceea-467a-9af1-4c3d2e1f0a9b%20',
  '8f14e45fceea467a9af14c3d2e1f0a9b',
  '%2F',
  '%20',
  ';',
  'null',
  '0',
  '-1',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '%E2%80%AE',
  '%F0%9F%99%82',
  '%ED%A0%80',
];

const b64 = (s: string) => Buffer.from(s).toString('base64url');

const BAD_QUERIES = [
  'limit=1&limit=2',
  'limit[]=1',
  'limit[a]=1',
  'limit=1e999',
  'limit=99999999999999999999',
  'limit=-1',
  'limit=0',
  'limit=1.5',
  'limit=',
  'limit=abc',
  'limit=%EF%BC%91',
  'limit=0x10',
  'limit=%205',
  'limit=NaN',
  'limit=Infinity',
  'cursor=garbage',
  `cursor=${b64('x|y')}`,
  `cursor=${'A'.repeat(5000)}`,
  'cursor=%ff',
  'cursor=%',
  `cursor=${b64('2026-01-01T00:00:00.000Z|00000000-0000-0000-0000-000000000000')}`,
  `cursor=${b64('2026-01-01T00:00:00.000Z|8f14e45f-ceea-467a-9af1-4c3d2e1f0a9b|x')}`,
  `cursor=${b64('10000-01-01T00:00:00.000Z|8f14e45f-ceea-467a-9af1-4c3d2e1f0a9b')}`,
  `cursor=${b64('2026-02-30T00:00:00.000000Z|8f14e45f-ceea-467a-9af1-4c3d2e1f0a9b')}`,
  'cursor=1&cursor=2',
  'status=nope',
  'status=queued&status=running',
  'status[x]=1',
  'type=fit&type=predict',
  'model_id=not-a-uuid',
  'model_id=%00',
  'unknown=1',
  'api_key=tpk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  '__proto__=1',
  '__proto__[x]=1',
  'constructor[prototype][x]=1',
  'hasOwnProperty=1',
  '&&&',
  '=',
  '%',
  'a=%zz',
  `${'x'.repeat(9000)}=1`,
  Array.from({ length: 1500 }, (_, i) => `k${i}=1`).join('&'),
];

/** Cursors in the format this API issues (some out of its range): they reach Postgres. */
const cursorArb = fc
  .tuple(
    fc.date({ min: new Date('1969-12-31T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
    fc.uuid(),
    fc.integer({ min: 0, max: 4 }),
  )
  .map(([d, id, extra]) => `cursor=${b64(`${d.toISOString().replace('Z', `${'0'.repeat(extra)}Z`)}|${id}`)}`);

const PATH_TWEAKS: ((p: string) => string)[] = [
  (p) => `${p}/`,
  (p) => `${p}//`,
  (p) => `/${p}`,
  (p) => p.replace('/v1/', '/v1//'),
  (p) => `${p}/..`,
  (p) => `${p}/.`,
  (p) => `${p}/%2e%2e/`,
  (p) => `${p}%00`,
  (p) => `${p}%2F`,
  (p) => p.toUpperCase(),
  (p) => `${p};x=1`,
  (p) => p.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`),
  (p) => `/v1/../${p.replace(/^\//, '')}`,
  (p) => `${p}#frag`,
  (p) => `${p}/${'a'.repeat(5000)}`,
];

const encodings: [string, (b: Buffer) => Buffer][] = [
  ['gzip', (b) => gzipSync(b)],
  ['deflate', (b) => deflateSync(b)],
  ['br', (b) => brotliCompressSync(b)],
  ['gzip', (b) => b],
  ['zstd', (b) => b],
  ['identity', (b) => b],
  ['gzip, gzip', (b) => gzipSync(gzipSync(b))],
];

let bomb: Buffer | undefined;
/** `{ … }` with 20 MB of spaces inside, gzipped to ~20 KB (built once). */
const gzipBomb = () => (bomb ??= gzipSync(Buffer.from(`{${' '.repeat(20_000_000)}}`)));

const METHOD_SWAPS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'get', 'FOO'];

function setHeader(req: FuzzRequest, name: string, value: string | undefined): [string, string][] {
  const headers = req.headers.filter(([k]) => k.toLowerCase() !== name.toLowerCase());
  if (value !== undefined) headers.push([name, value]);
  return headers;
}

function anyMutations(op: Operation, req: FuzzRequest): fc.Arbitrary<FuzzRequest>[] {
  const out: fc.Arbitrary<FuzzRequest>[] = [
    fc
      .constantFrom(...BAD_CONTENT_TYPES)
      .map((ct) => ({ ...req, kind: `content-type=${JSON.stringify(ct)}`, headers: setHeader(req, 'Content-Type', ct || undefined) })),
    fc.array(fc.constantFrom(...BAD_QUERIES), { minLength: 1, maxLength: 3 }).map((qs) => ({
      ...req,
      kind: `query=${qs.map((q) => (q.length > 40 ? `${q.slice(0, 30)}…(${q.length})` : q)).join('&')}`,
      query: [req.query, ...qs].filter(Boolean).join('&'),
    })),
    fc.tuple(cursorArb, fc.constantFrom('', 'limit=1', 'limit=100', 'status=queued')).map(([c, more]) => ({
      ...req,
      kind: `query=${c}${more ? `&${more}` : ''}`,
      query: [req.query, c, more].filter(Boolean).join('&'),
    })),
    fc.constantFrom(...PATH_TWEAKS.keys()).map((i) => ({ ...req, kind: `path-tweak#${i}`, path: PATH_TWEAKS[i]!(req.path) })),
    fc.constantFrom(...METHOD_SWAPS).map((m) => ({ ...req, kind: `method=${m}`, method: m })),
    fc
      .tuple(
        fc.constantFrom(
          'Idempotency-Key',
          'Prefer',
          'Accept',
          'Accept-Encoding',
          'Content-Language',
          'X-Request-Id',
          'Expect',
          'Range',
          'If-None-Match',
          'Origin',
        ),
        fc.constantFrom(
          '',
          ' ',
          'x'.repeat(256),
          '\u00e9',
          'a b',
          '\t',
          'wait=0',
          'wait=-1',
          'wait=abc',
          'WAIT=0',
          '*/*;q=abc',
          'bytes=0-1',
          'null',
          '100-continue',
          'x'.repeat(8000),
        ),
      )
      .map(([name, value]) => ({
        ...req,
        kind: `header ${name}=${JSON.stringify(value).slice(0, 30)}`,
        headers: setHeader(req, name, value),
      })),
    authArb(op, 1).map((auth) => ({ ...req, kind: `auth=${auth}`, auth })),
  ];
  const pathParams = op.params.filter((p) => p.in === 'path');
  if (pathParams.length) {
    out.push(
      fc.tuple(fc.constantFrom(...pathParams.map((p) => p.name)), fc.constantFrom(...BAD_IDS)).map(([name, bad]) => {
        let path = op.template;
        const values: Record<string, string> = {};
        // Keep the other parameters as generated: only `name` is broken.
        const segs = req.path.split('/');
        op.template.split('/').forEach((seg, i) => {
          const m = /^\{(.+)\}$/.exec(seg);
          if (m) values[m[1]!] = segs[i] ?? '';
        });
        values[name] = bad;
        path = op.template.replace(/\{([^}]+)\}/g, (_m, n: string) => values[n] ?? '');
        return { ...req, kind: `path-param ${name}=${bad.length > 40 ? `${bad.slice(0, 10)}…(${bad.length})` : bad}`, path };
      }),
    );
  }
  if (req.body?.length) {
    const body = req.body;
    out.push(
      fc
        .nat(body.length - 1)
        .map((n) => ({ ...req, kind: `truncate@${n}/${body.length}`, body: body.subarray(0, n), json: undefined, form: undefined })),
      fc
        .nat(body.length - 1)
        .map((n) => ({ ...req, kind: `early-eof@${n}/${body.length}`, delivery: { mode: 'early-eof', keep: n } as Delivery })),
      fc.constantFrom(...encodings.keys()).map((i) => {
        const [name, fn] = encodings[i]!;
        return {
          ...req,
          kind: `content-encoding=${name}${fn(Buffer.from('x')).equals(Buffer.from('x')) ? '(not encoded)' : ''}`,
          body: fn(body),
          headers: setHeader(req, 'Content-Encoding', name),
        };
      }),
      fc.constant({
        ...req,
        kind: 'content-encoding=gzip(20 MB of spaces)',
        body: gzipBomb(),
        headers: setHeader(req, 'Content-Encoding', 'gzip'),
      }),
      fc.constant({ ...req, kind: 'utf8-bom', body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]) }),
    );
  } else {
    // A body where the operation takes none (GET, DELETE, a POST without a request body).
    out.push(
      fc.constantFrom('{"a":1}', 'x'.repeat(70_000), '').map((b) => ({
        ...req,
        kind: `unexpected-body(${b.length})`,
        body: Buffer.from(b),
        headers: setHeader(req, 'Content-Type', 'application/json'),
      })),
    );
  }
  return out;
}

/** One valid-ish request for `op`, broken in one way. */
export function mutatedRequestArb(op: Operation, ctx: GeneratorContext): fc.Arbitrary<FuzzRequest> {
  const once = (req: FuzzRequest) =>
    fc.oneof(
      ...jsonMutations(req).map((arbitrary) => ({ weight: 3, arbitrary })),
      ...formMutations(req).map((arbitrary) => ({ weight: 2, arbitrary })),
      ...anyMutations(op, req).map((arbitrary) => ({ weight: 2, arbitrary })),
    );
  // Now and then a second edit on top of the first (a type swap sent as latin1 without a key, say).
  const twice = (req: FuzzRequest) =>
    once(req).chain((first) => once(first).map((second) => ({ ...second, kind: `${first.kind} + ${second.kind}` })));
  return schemaRequestArb(op, ctx, 5).chain((req) => fc.oneof({ weight: 4, arbitrary: once(req) }, { weight: 1, arbitrary: twice(req) }));
}

/** A valid-ish or mutated request with a body, delivered in small pieces with pauses in between. */
export function slowRequestArb(op: Operation, ctx: GeneratorContext): fc.Arbitrary<FuzzRequest> {
  const base = fc
    .oneof(schemaRequestArb(op, ctx), mutatedRequestArb(op, ctx))
    .filter((r) => !!r.body?.length && r.delivery.mode === 'whole');
  return fc
    .tuple(
      base,
      fc.constantFrom<'chunked' | 'length'>('chunked', 'length'),
      fc.integer({ min: 2, max: 12 }),
      fc.integer({ min: 1, max: 25 }),
    )
    .map(([req, framing, pieces, delayMs]) => ({
      ...req,
      kind: `${req.kind} slow(${framing},${pieces}×${delayMs}ms)`,
      delivery: { mode: 'slow', framing, pieces, delayMs } as Delivery,
    }));
}

/** Protocol-level oddities, written byte for byte. `{{auth}}` becomes an Authorization value. */
export const RAW_CASES: string[] = [
  'POST /v1/models/fit HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'POST /v1/models/fit HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
  'POST /v1/models/fit HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5;ext="1"\r\n{"fea\r\n0\r\n\r\n',
  'POST /v1/models/fit HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n{}\r\n0\r\n\r\n',
  'POST /v1/models/fit HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n',
  'POST /v1/models/fit HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n{}',
  'POST /v1/models/fit HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nContent-Type: application/json\r\nContent-Length: 1e3\r\n\r\n{}',
  'POST /v1/models/fit HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nContent-Type: application/json\r\nContent-Length: 99999999999999999999\r\n\r\n{}',
  'POST /v1/auth/keys HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
  'POST /v1/auth/keys HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nContent-Type: application/json\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}',
  'POST /v1/auth/keys HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}',
  'POST /v1/auth/keys HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nContent-Type: application/json\r\nExpect: 999-nope\r\nContent-Length: 2\r\n\r\n{}',
  'GET /health HTTP/1.1\r\nHost: {{host}}\r\nX-Nul: a\u0000b\r\n\r\n',
  'GET /health HTTP/1.1\r\nHost: {{host}}\r\nX-Folded: a\r\n b\r\n\r\n',
  'GET /v1/me HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nAuthorization: Bearer tpk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n',
  'GET /v1/me HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nX-Pad: {{pad}}\r\n\r\n',
  'GET /v1/me HTTP/1.0\r\nAuthorization: {{auth}}\r\n\r\n',
  'GET http://evil.example/v1/me HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\n\r\n',
  'GET * HTTP/1.1\r\nHost: {{host}}\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: {{host}}\r\n\r\n',
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  '\r\n\r\nGET /health HTTP/1.1\r\nHost: {{host}}\r\n\r\n',
  'GET /health HTTP/9.9\r\nHost: {{host}}\r\n\r\n',
  'GET /v1/jobs?limit=1 HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nConnection: keep-alive\r\n\r\nGET /v1/jobs?limit=%zz HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nConnection: close\r\n\r\n',
  'POST /v1/models/fit HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}GARBAGE / HTTP/1.1\r\n\r\n',
  'GET /v1/me HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'DELETE /v1/models/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {{auth}}\r\nContent-Length: 1\r\n\r\nx',
];
