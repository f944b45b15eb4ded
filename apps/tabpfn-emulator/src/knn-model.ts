import type { Cell, Table } from './dataset-reader.js';

/**
 * A deterministic k-nearest-neighbours stand-in for TabPFN: numeric columns standardised (missing →
 * the mean), string columns one-hot (missing or unseen → no category), distance-weighted votes. It is
 * not TabPFN, but it really learns from the data, so demos and tests see sensible predictions.
 */

type ColumnEncoder = { kind: 'num'; mean: number; std: number } | { kind: 'cat'; index: Map<string, number> };

export class ModelInputError extends Error {}

function asNumber(v: Cell): number | null {
  if (v === null) return null;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return null;
}

/**
 * A category's key. Reading a CSV turns a column whose values all look numeric into numbers ("1.0" → 1), and
 * whether they all do depends on the whole file: a test chunk of only "1.0"/"2.0" reads as numbers while the
 * full test set (with an "x" somewhere) keeps strings. Numeric spellings therefore share their number's key,
 * so each row's prediction depends only on that row and the train set, however the test set is split.
 */
function categoryKey(v: Cell): string {
  if (typeof v !== 'string') return String(v);
  const n = Number(v);
  return v.trim() !== '' && Number.isFinite(n) ? String(n) : v;
}

// One-hot components of 1/√2 make a category mismatch cost 1, the same as one standard deviation.
const ONE_HOT = Math.SQRT1_2;

class Featurizer {
  readonly encoders: ColumnEncoder[];
  readonly dims: number;

  constructor(x: Table) {
    let dims = 0;
    this.encoders = x.columns.map((_, j) => {
      const values = x.rows.map((r) => r[j] ?? null);
      const isNumeric = values.every((v) => v === null || typeof v === 'number' || typeof v === 'boolean');
      if (isNumeric) {
        const nums = values.map(asNumber).filter((v): v is number => v !== null);
        const mean = nums.length ? nums.reduce((a, b) => a + b, 0) / nums.length : 0;
        const variance = nums.length ? nums.reduce((a, b) => a + (b - mean) ** 2, 0) / nums.length : 0;
        dims += 1;
        return { kind: 'num', mean, std: Math.sqrt(variance) || 1 };
      }
      const cats = [...new Set(values.filter((v) => v !== null).map(categoryKey))].sort();
      const index = new Map(cats.map((c, k) => [c, dims + k]));
      dims += cats.length;
      return { kind: 'cat', index };
    });
    this.dims = dims;
  }

  transform(row: Cell[]): Float64Array {
    const out = new Float64Array(this.dims);
    let d = 0;
    this.encoders.forEach((enc, j) => {
      const v = row[j] ?? null;
      if (enc.kind === 'num') {
        // A string in a numeric column (a type mismatch at predict) counts as missing.
        const n = typeof v === 'string' ? Number(v) : asNumber(v);
        out[d++] = n === null || !Number.isFinite(n) ? 0 : (n - enc.mean) / enc.std;
      } else {
        const k = v === null ? undefined : enc.index.get(categoryKey(v));
        if (k !== undefined) out[k] = ONE_HOT;
        d += enc.index.size;
      }
    });
    return out;
  }
}

interface Neighbour {
  index: number;
  weight: number;
}

function nearest(train: Float64Array[], q: Float64Array, k: number): Neighbour[] {
  const best: { index: number; dist: number }[] = [];
  for (let i = 0; i < train.length; i++) {
    const t = train[i] as Float64Array;
    let dist = 0;
    for (let d = 0; d < q.length; d++) {
      const diff = (t[d] as number) - (q[d] as number);
      dist += diff * diff;
    }
    if (best.length < k || dist < (best[best.length - 1] as { dist: number }).dist) {
      // Insertion keeps ties in train order, so results never depend on sort stability.
      let pos = best.length;
      while (pos > 0 && (best[pos - 1] as { dist: number }).dist > dist) pos--;
      best.splice(pos, 0, { index: i, dist });
      if (best.length > k) best.pop();
    }
  }
  return best.map((b) => ({ index: b.index, weight: 1 / (Math.sqrt(b.dist) + 1e-3) }));
}

export type Label = string | number | boolean;

function sortLabels(labels: Label[]): Label[] {
  return [...new Set(labels)].sort((a, b) =>
    typeof a === 'string' && typeof b === 'string' ? (a < b ? -1 : a > b ? 1 : 0) : Number(a) - Number(b),
  );
}

export interface FitOptions {
  balanceProbabilities?: boolean;
}

export class KnnClassifier {
  readonly classes: Label[];
  private readonly featurizer: Featurizer;
  private readonly train: Float64Array[];
  private readonly labelIndex: number[];
  private readonly priors: number[];

  constructor(
    x: Table,
    y: Cell[],
    private readonly options: FitOptions = {},
  ) {
    if (y.some((v) => v === null)) throw new ModelInputError('y contains missing values');
    this.classes = sortLabels(y as Label[]);
    const pos = new Map(this.classes.map((c, i) => [c, i]));
    this.labelIndex = (y as Label[]).map((v) => pos.get(v) as number);
    this.priors = this.classes.map((_, c) => this.labelIndex.filter((l) => l === c).length / y.length);
    this.featurizer = new Featurizer(x);
    this.train = x.rows.map((r) => this.featurizer.transform(r));
  }

  get nFeatures(): number {
    return this.featurizer.encoders.length;
  }

  predictProba(rows: Cell[][]): number[][] {
    const k = Math.min(this.train.length, 7);
    const nClasses = this.classes.length;
    return rows.map((row) => {
      const votes = new Array<number>(nClasses).fill(0);
      for (const n of nearest(this.train, this.featurizer.transform(row), k)) {
        const c = this.labelIndex[n.index] as number;
        votes[c] = (votes[c] as number) + n.weight;
      }
      if (this.options.balanceProbabilities) {
        for (let c = 0; c < nClasses; c++) votes[c] = (votes[c] as number) / (this.priors[c] || 1);
      }
      const total = votes.reduce((a, b) => a + b, 0) || 1;
      // A 1% floor keeps every class possible, as a probabilistic model would.
      const p = votes.map((v) => 0.99 * (v / total) + 0.01 / nClasses);
      const sum = p.reduce((a, b) => a + b, 0);
      return p.map((v) => v / sum);
    });
  }

  predict(rows: Cell[][]): Label[] {
    return this.predictProba(rows).map((p) => this.classes[p.indexOf(Math.max(...p))] as Label);
  }
}

export interface RegressionOutputs {
  mean: number[];
  median: number[];
  mode: number[];
  quantiles: number[][];
  logits: number[][];
  borders: number[];
}

const N_BINS = 64;

/** Weighted quantile, interpolating between the weight midpoints so it rises smoothly with q. */
function weightedQuantile(values: number[], weights: number[], q: number): number {
  const order = values.map((v, i) => ({ v, w: weights[i] as number })).sort((a, b) => a.v - b.v);
  const total = order.reduce((s, o) => s + o.w, 0);
  let acc = 0;
  const mids = order.map((o) => {
    const m = (acc + o.w / 2) / total;
    acc += o.w;
    return m;
  });
  const first = order[0] as { v: number };
  const last = order[order.length - 1] as { v: number };
  if (q <= (mids[0] as number)) return first.v;
  if (q >= (mids[mids.length - 1] as number)) return last.v;
  for (let i = 0; i < order.length - 1; i++) {
    const m0 = mids[i] as number;
    const m1 = mids[i + 1] as number;
    if (q <= m1) {
      const t = m1 === m0 ? 0 : (q - m0) / (m1 - m0);
      return (order[i] as { v: number }).v * (1 - t) + (order[i + 1] as { v: number }).v * t;
    }
  }
  return last.v;
}

export class KnnRegressor {
  private readonly featurizer: Featurizer;
  private readonly train: Float64Array[];
  private readonly y: number[];
  readonly borders: number[];
  private readonly bandwidth: number;

  constructor(x: Table, y: Cell[]) {
    this.y = y.map((v, i) => {
      const n = typeof v === 'string' ? Number(v) : asNumber(v);
      if (n === null || !Number.isFinite(n)) throw new ModelInputError(`y[${i}] is not a number: ${JSON.stringify(v)}`);
      return n;
    });
    this.featurizer = new Featurizer(x);
    this.train = x.rows.map((r) => this.featurizer.transform(r));
    const min = Math.min(...this.y);
    const max = Math.max(...this.y);
    const span = max - min || 1;
    const lo = min - 0.1 * span;
    const step = (1.2 * span) / N_BINS;
    this.borders = Array.from({ length: N_BINS + 1 }, (_, i) => lo + i * step);
    this.bandwidth = step * 2;
  }

  get nFeatures(): number {
    return this.featurizer.encoders.length;
  }

  predict(rows: Cell[][], quantiles: number[]): RegressionOutputs {
    const k = Math.min(this.train.length, 10);
    const out: RegressionOutputs = {
      mean: [],
      median: [],
      mode: [],
      quantiles: quantiles.map(() => []),
      logits: [],
      borders: this.borders,
    };
    for (const row of rows) {
      const nb = nearest(this.train, this.featurizer.transform(row), k);
      const values = nb.map((n) => this.y[n.index] as number);
      const weights = nb.map((n) => n.weight);
      const total = weights.reduce((a, b) => a + b, 0);
      out.mean.push(values.reduce((s, v, i) => s + v * (weights[i] as number), 0) / total);
      out.median.push(weightedQuantile(values, weights, 0.5));
      quantiles.forEach((q, qi) => {
        (out.quantiles[qi] as number[]).push(weightedQuantile(values, weights, q));
      });
      // A Gaussian-kernel density of the neighbour targets over the bins: the bar distribution's logits.
      const density = this.borders.slice(0, -1).map((b, bi) => {
        const centre = (b + (this.borders[bi + 1] as number)) / 2;
        return values.reduce((s, v, i) => s + (weights[i] as number) * Math.exp(-0.5 * ((centre - v) / this.bandwidth) ** 2), 0) / total;
      });
      const best = density.indexOf(Math.max(...density));
      out.mode.push(((this.borders[best] as number) + (this.borders[best + 1] as number)) / 2);
      const z = density.reduce((a, b) => a + b, 0) || 1;
      out.logits.push(density.map((d) => Math.log(d / z + 1e-9)));
    }
    return out;
  }
}
