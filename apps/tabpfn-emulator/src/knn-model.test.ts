import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { type Cell, readCsv, type Table } from './dataset-reader.js';
import { KnnClassifier, KnnRegressor } from './knn-model.js';

const DATASETS = process.env.TABPFN_DATASETS_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../tests/fixtures/datasets');

function load(name: string, target?: string): { x: Table; y: Cell[] } {
  const t = readCsv(readFileSync(resolve(DATASETS, `${name}.csv`)));
  const ti = target ? t.columns.indexOf(target) : t.columns.length - 1;
  return {
    x: { columns: t.columns.filter((_, j) => j !== ti), rows: t.rows.map((r) => r.filter((_, j) => j !== ti)) },
    y: t.rows.map((r) => r[ti] ?? null),
  };
}

/** Deterministic 80/20: every fifth row held out (files are grouped by class). */
function split(name: string, target?: string) {
  const { x, y } = load(name, target);
  const keep = (test: boolean) => (_: unknown, i: number) => (i % 5 === 0) === test;
  return {
    train: { x: { columns: x.columns, rows: x.rows.filter(keep(false)) }, y: y.filter(keep(false)) },
    test: { x: { columns: x.columns, rows: x.rows.filter(keep(true)) }, y: y.filter(keep(true)) },
  };
}

describe('k-NN stand-in model', () => {
  it.each([
    ['iris', undefined],
    ['wine', undefined],
    ['breast_cancer', undefined],
    ['digits', undefined],
    ['penguins', 'species'],
  ])('reaches at least 0.85 held-out accuracy on %s', (name, target) => {
    const { train, test } = split(name, target);
    const model = new KnnClassifier(train.x, train.y);
    const preds = model.predict(test.x.rows);
    const acc = preds.filter((p, i) => p === test.y[i]).length / test.y.length;
    expect(acc).toBeGreaterThanOrEqual(0.85);
  });

  it('returns probabilities in sorted label order that sum to 1, deterministically', () => {
    const { train, test } = split('iris');
    const model = new KnnClassifier(train.x, train.y);
    expect(model.classes).toEqual(['setosa', 'versicolor', 'virginica']);
    const p = model.predictProba(test.x.rows);
    for (const row of p) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(new KnnClassifier(train.x, train.y).predictProba(test.x.rows)).toEqual(p);
  });

  it('balances probabilities by class prior when asked', () => {
    const x: Table = { columns: ['a'], rows: [[0], [0.1], [0.2], [0.3], [1]] };
    const y: Cell[] = ['a', 'a', 'a', 'a', 'b'];
    const plain = new KnnClassifier(x, y).predictProba([[0.6]])[0] as number[];
    const balanced = new KnnClassifier(x, y, { balanceProbabilities: true }).predictProba([[0.6]])[0] as number[];
    expect(balanced[1]).toBeGreaterThan(plain[1] as number);
  });

  it('regresses diabetes better than the mean, with ordered quantiles and a bar distribution', () => {
    const { train, test } = split('diabetes');
    const model = new KnnRegressor(train.x, train.y);
    const out = model.predict(test.x.rows, [0.1, 0.5, 0.9]);
    const ys = test.y as number[];
    const meanY = (train.y as number[]).reduce((a, b) => a + b, 0) / train.y.length;
    const mae = (p: number[]) => p.reduce((s, v, i) => s + Math.abs(v - (ys[i] as number)), 0) / ys.length;
    expect(mae(out.mean)).toBeLessThan(mae(ys.map(() => meanY)));
    for (let i = 0; i < ys.length; i++) {
      expect(out.quantiles[0]?.[i]).toBeLessThanOrEqual(out.quantiles[1]?.[i] as number);
      expect(out.quantiles[1]?.[i]).toBeLessThanOrEqual(out.quantiles[2]?.[i] as number);
    }
    expect(out.borders).toHaveLength(65);
    expect(out.logits[0]).toHaveLength(64);
  });

  it('imputes missing numbers and ignores unseen categories', () => {
    const x: Table = {
      columns: ['n', 'c'],
      rows: [
        [1, 'a'],
        [null, 'b'],
        [3, null],
        [4, 'a'],
      ],
    };
    const model = new KnnClassifier(x, ['p', 'q', 'q', 'p']);
    expect(
      model.predict([
        [null, null],
        [2, 'zzz'],
        [1, 'a'],
      ]),
    ).toHaveLength(3);
  });
});
