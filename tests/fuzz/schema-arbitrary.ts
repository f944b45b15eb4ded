import fc from 'fast-check';

/** The part of JSON Schema (OpenAPI 3.1 dialect, plus 3.0's `nullable`) the generator understands. */
export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
  nullable?: boolean;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  prefixItems?: JsonSchema[];
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  contentMediaType?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number | boolean;
  exclusiveMaximum?: number | boolean;
  default?: unknown;
  example?: unknown;
  examples?: unknown[];
}

export interface SchemaArbitraryOptions {
  /** `#/components/schemas/<name>` targets. */
  components?: Record<string, JsonSchema>;
  /** Strings with a `contentMediaType` (a CSV file part, say). */
  media?: Record<string, fc.Arbitrary<string>>;
  /** Adjusts the arbitrary of a named component (e.g. makes a table's rows agree with its target). */
  refine?: Record<string, (arb: fc.Arbitrary<unknown>) => fc.Arbitrary<unknown>>;
  /** Array length when the schema sets no maximum (default 4). */
  maxItems?: number;
  /** String length when the schema sets no maximum (default 24). */
  maxLength?: number;
  /** `$ref` hops before a recursive schema is cut off with `null` (default 8). */
  maxDepth?: number;
}

const INT32 = 2 ** 31 - 1;

const FORMATS: Record<string, fc.Arbitrary<string>> = {
  uuid: fc.uuid(),
  'date-time': fc.date({ noInvalidDate: true, min: new Date('1970-01-01'), max: new Date('9999-12-31') }).map((d) => d.toISOString()),
  date: fc.date({ noInvalidDate: true, min: new Date('1970-01-01'), max: new Date('9999-12-31') }).map((d) => d.toISOString().slice(0, 10)),
  email: fc.emailAddress(),
  uri: fc.webUrl(),
  url: fc.webUrl(),
};

/** Valid values (mostly), with the schema's own `example` and `default` mixed in now and then. */
export function schemaArbitrary(schema: JsonSchema, opts: SchemaArbitraryOptions = {}): fc.Arbitrary<unknown> {
  const maxItems = opts.maxItems ?? 4;
  const maxLength = opts.maxLength ?? 24;
  const maxDepth = opts.maxDepth ?? 8;
  const byRef = new Map<string, fc.Arbitrary<unknown>>();

  const resolve = (ref: string): { name: string; schema: JsonSchema } => {
    const m = /^#\/components\/schemas\/(.+)$/.exec(ref);
    const target = m ? opts.components?.[decodeURIComponent(m[1]!)] : undefined;
    if (!m || !target) throw new Error(`schemaArbitrary: cannot resolve ${ref}`);
    return { name: decodeURIComponent(m[1]!), schema: target };
  };

  const withSamples = (s: JsonSchema, arb: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => {
    const samples = [s.example, ...(s.examples ?? []), s.default].filter((v) => v !== undefined);
    if (!samples.length) return arb;
    return fc.oneof({ weight: 5, arbitrary: arb }, { weight: 1, arbitrary: fc.constantFrom(...samples) });
  };

  const string = (s: JsonSchema): fc.Arbitrary<string> => {
    if (s.contentMediaType && opts.media?.[s.contentMediaType]) return opts.media[s.contentMediaType]!;
    if (s.format && FORMATS[s.format]) return FORMATS[s.format]!;
    const min = s.minLength ?? 0;
    const max = s.maxLength ?? Number.POSITIVE_INFINITY;
    const fits = (v: string) => v.length >= min && v.length <= max;
    if (s.pattern) return fc.stringMatching(new RegExp(s.pattern)).filter(fits);
    const cap = Math.max(min, Math.min(max, maxLength));
    const units = [
      { weight: 6, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: min, maxLength: cap }) },
      { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: min, maxLength: cap }).filter(fits) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: min, maxLength: cap }).filter(fits) },
    ];
    // The longest value the schema allows, exactly.
    if (Number.isFinite(max) && max > cap && max <= 10_000)
      units.push({ weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: max, maxLength: max }) });
    return fc.oneof(...units);
  };

  const bounds = (s: JsonSchema) => {
    const lo = typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum : s.minimum;
    const hi = typeof s.exclusiveMaximum === 'number' ? s.exclusiveMaximum : s.maximum;
    return {
      lo,
      hi,
      loEx: s.exclusiveMinimum === true || typeof s.exclusiveMinimum === 'number',
      hiEx: s.exclusiveMaximum === true || typeof s.exclusiveMaximum === 'number',
    };
  };

  const integer = (s: JsonSchema): fc.Arbitrary<number> => {
    const { lo, hi, loEx, hiEx } = bounds(s);
    const min = lo === undefined ? -INT32 : Math.ceil(loEx ? lo + 1 : lo);
    const max = hi === undefined ? INT32 : Math.floor(hiEx ? hi - 1 : hi);
    const edges = [min, max].filter((v) => Number.isSafeInteger(v));
    const inner = fc.integer({ min: Math.max(min, -INT32), max: Math.min(max, INT32) });
    // Schemas without an upper bound also take the largest exact integer.
    const big = hi === undefined ? [Number.MAX_SAFE_INTEGER] : [];
    return fc.oneof({ weight: 8, arbitrary: inner }, { weight: 1, arbitrary: fc.constantFrom(...edges, ...big) });
  };

  const number = (s: JsonSchema): fc.Arbitrary<number> => {
    const { lo, hi, loEx, hiEx } = bounds(s);
    return fc.double({
      min: lo,
      max: hi,
      minExcluded: loEx && lo !== undefined,
      maxExcluded: hiEx && hi !== undefined,
      noNaN: true,
      noDefaultInfinity: true,
    });
  };

  const gen = (s: JsonSchema, depth: number): fc.Arbitrary<unknown> => {
    if (s.$ref) {
      if (depth >= maxDepth) return fc.constant(null);
      const cached = byRef.get(s.$ref);
      if (cached) return cached;
      const { name, schema: target } = resolve(s.$ref);
      // Registered before it is built, so a schema that refers to itself terminates.
      const lazy = fc.constant(null).chain(() => built);
      byRef.set(s.$ref, lazy);
      let built = gen(target, depth + 1);
      if (opts.refine?.[name]) built = opts.refine[name]!(built);
      byRef.set(s.$ref, built);
      return built;
    }
    if (s.const !== undefined) return fc.constant(s.const);
    if (s.enum) return fc.constantFrom(...s.enum);
    if (s.oneOf?.length) return withNull(s, fc.oneof(...s.oneOf.map((x) => gen(x, depth))));
    if (s.anyOf?.length) return withNull(s, fc.oneof(...s.anyOf.map((x) => gen(x, depth))));
    if (s.allOf?.length)
      return gen(
        mergeAll(
          s,
          s.allOf.map((x) => (x.$ref ? resolve(x.$ref).schema : x)),
        ),
        depth,
      );
    if (Array.isArray(s.type)) return withSamples(s, fc.oneof(...s.type.map((t) => gen({ ...s, type: t }, depth))));
    const type = s.type ?? (s.properties ? 'object' : s.items || s.prefixItems ? 'array' : undefined);
    let arb: fc.Arbitrary<unknown>;
    switch (type) {
      case 'string':
        arb = string(s);
        break;
      case 'integer':
        arb = integer(s);
        break;
      case 'number':
        arb = number(s);
        break;
      case 'boolean':
        arb = fc.boolean();
        break;
      case 'null':
        return fc.constant(null);
      case 'array': {
        const min = s.minItems ?? 0;
        const max = Math.max(min, Math.min(s.maxItems ?? maxItems, maxItems));
        const items = s.items ? gen(s.items, depth) : fc.jsonValue({ maxDepth: 1 });
        const rest = fc.array(items, { minLength: Math.max(0, min - (s.prefixItems?.length ?? 0)), maxLength: max });
        arb = s.prefixItems ? fc.tuple(fc.tuple(...s.prefixItems.map((x) => gen(x, depth))), rest).map(([a, b]) => [...a, ...b]) : rest;
        break;
      }
      case 'object': {
        const props = Object.entries(s.properties ?? {});
        const required = new Set(s.required ?? []);
        const known = fc.record(Object.fromEntries(props.map(([k, p]) => [k, gen(p, depth)])), {
          requiredKeys: props.map(([k]) => k).filter((k) => required.has(k)),
        });
        const extra = s.additionalProperties;
        if (extra && typeof extra === 'object') {
          const names = new Set(props.map(([k]) => k));
          const more = fc.dictionary(
            fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !names.has(k)),
            gen(extra, depth),
            { maxKeys: 3 },
          );
          arb = fc.tuple(known, more).map(([a, b]) => ({ ...b, ...a }));
        } else {
          arb = known;
        }
        break;
      }
      default:
        // `{}`: any JSON value.
        arb = fc.jsonValue({ maxDepth: 2 });
    }
    return withNull(s, withSamples(s, arb));
  };

  const withNull = (s: JsonSchema, arb: fc.Arbitrary<unknown>) => (s.nullable ? fc.option(arb, { nil: null, freq: 5 }) : arb);

  return gen(schema, 0);
}

function mergeAll(base: JsonSchema, parts: JsonSchema[]): JsonSchema {
  const { allOf: _allOf, ...rest } = base;
  const out: JsonSchema = { ...rest };
  for (const p of parts) {
    Object.assign(out, {
      ...p,
      properties: { ...out.properties, ...p.properties },
      required: [...(out.required ?? []), ...(p.required ?? [])],
    });
  }
  return out;
}
