import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { promisify } from 'node:util';
import { setupAccount, uploadFile } from '../client.js';
import { largeDataset } from '../dataset.js';
import { median } from '../load.js';
import { ROOT, memoryOf, sampleRss } from '../processes.js';
import { type Row, fmt } from '../report.js';
import { TOKENS, startApi, startEmulator } from '../stack.js';

export interface LargeSettings {
  rows: number;
  cols: number;
  repeats: number;
}

async function rawParse(mode: 'csv' | 'json', file: string): Promise<{ ms: number; rssGrowth: number }> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--conditions=development', '--import', 'tsx', 'bench/raw-parse.ts', mode, file],
    {
      cwd: ROOT,
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

/**
 * A large fit upload, CSV (multipart) and JSON: time from the first byte sent to the 202, the api's
 * RSS growth over its idle level (fresh process per format), against csv-parse / JSON.parse alone.
 * No worker runs: the fit stays queued, so only the api's work is measured.
 */
export async function largeScenario(s: LargeSettings): Promise<{ rows: Row[]; raw: unknown }> {
  const files = await largeDataset(s.rows, s.cols);
  const emulator = await startEmulator({ fit: 0, predict: 0 });
  const rows: Row[] = [];
  const raw: Record<string, unknown> = {};
  for (const format of ['csv', 'json'] as const) {
    const file = files[format];
    const size = statSync(file).size;
    const baselines: { ms: number; rssGrowth: number }[] = [];
    const api = await startApi(emulator.url, {}, `api-large-${format}`);
    const account = await setupAccount(api.url, TOKENS[0]!);
    for (let i = 0; i < 5; i++) await fetch(`${api.url}/health`);
    await new Promise((r) => setTimeout(r, 500));
    const idle = memoryOf(api.service.pid).rss;
    const times: number[] = [];
    let peak = 0;
    // Interleaved, each upload after a baseline run: this machine's speed drifts by 2 × over minutes.
    for (let i = 0; i < s.repeats; i++) {
      baselines.push(await rawParse(format, file));
      const sampler = sampleRss(api.service.pid);
      const res = await uploadFile(`${api.url}/v1/models/fit`, account.apiKey, file, format, { target_column: 'target' });
      const p = sampler.stop();
      if (res.status !== 202) throw new Error(`${format} upload answered ${res.status}: ${res.body.slice(0, 500)}`);
      if (i === 0) peak = p;
      times.push(res.ms);
    }
    const hwm = memoryOf(api.service.pid).hwm;
    await api.service.stop();
    const ms = median(times);
    const baseMs = median(baselines.map((b) => b.ms));
    // Each upload against the baseline run just before it: the machine's drift between pairs cancels.
    const ratio = median(times.map((t, i) => t / baselines[i]!.ms));
    const growth = peak - idle;
    const label = format === 'csv' ? 'CSV multipart' : 'JSON body';
    const baseLabel = format === 'csv' ? 'csv-parse alone' : 'JSON.parse alone';
    rows.push({
      scenario: '5 large data',
      metric: `${label} fit ${s.rows.toLocaleString('en-US')} × ${s.cols} (${fmt.mb(size)}): upload start → 202`,
      value: `${(ms / 1000).toFixed(2)} s (${(size / 1e6 / (ms / 1000)).toFixed(1)} MB/s)`,
      baseline: `${baseLabel} ${(baseMs / 1000).toFixed(2)} s (${(size / 1e6 / (baseMs / 1000)).toFixed(1)} MB/s)`,
      comparison: `${ratio.toFixed(2)} × (median of ${times.length} pairs)`,
      target: format === 'csv' ? '≤ 2 ×' : '',
      ...(format === 'csv' ? { pass: ratio <= 2 } : {}),
    });
    rows.push({
      scenario: '5 large data',
      metric: `${label}: api RSS growth (peak − idle)`,
      value: `${fmt.mb(growth)} (peak ${fmt.mb(peak)}, VmHWM ${fmt.mb(hwm)})`,
      baseline: `file ${fmt.mb(size)}; ${baseLabel} grew ${fmt.mb(median(baselines.map((b) => b.rssGrowth)))}`,
      comparison: `${(growth / size).toFixed(2)} × file`,
      target: format === 'csv' ? '≤ 2 × file' : '',
      ...(format === 'csv' ? { pass: growth / size <= 2 } : {}),
    });
    raw[format] = { size, times, baselines, idle, peak, hwm };
  }
  await emulator.service.stop();
  return { rows, raw };
}
