/**
 * `node --import tsx bench/profile-summary.ts <file.cpuprofile> [top]`: where a V8 CPU profile spends
 * its time, by function (self time) and by package, so hot spots can be read without DevTools.
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const [file, topArg] = process.argv.slice(2);
const prof = JSON.parse(readFileSync(file!, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
prof.samples.forEach((id, i) => {
  self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);

const pkgOf = (url: string) => {
  const m = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (url.includes('/apps/') || url.includes('/packages/')) return url.replace(/^.*\/((apps|packages)\/[^/]+)\/.*$/, '$1');
  return url.startsWith('node:') ? 'node:internal' : url || '(native/gc/idle)';
};
const fnKey = (n: Node) =>
  `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^.*\/work\/main\//, '')}:${n.callFrame.lineNumber + 1}`;
const agg = (key: (n: Node) => string) => {
  const m = new Map<string, number>();
  for (const [id, t] of self) {
    const k = key(byId.get(id)!);
    m.set(k, (m.get(k) ?? 0) + t);
  }
  return [...m.entries()].sort((a, b) => b[1] - a[1]);
};
const top = Number(topArg ?? 25);
const pct = (t: number) => `${((t / total) * 100).toFixed(1).padStart(5)} %`;
console.log(`total ${(total / 1e6).toFixed(1)} s sampled\n\nby package:`);
for (const [k, t] of agg((n) => pkgOf(n.callFrame.url)).slice(0, top)) console.log(`${pct(t)}  ${k}`);
console.log('\nby function (self):');
for (const [k, t] of agg(fnKey).slice(0, top)) console.log(`${pct(t)}  ${k}`);
