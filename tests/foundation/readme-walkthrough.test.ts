import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ROOT } from '../helpers/processes.js';
import { type Stack, startStack } from '../helpers/stack.js';

/**
 * Runs README.md's walkthrough as a reader would: every ```sh walkthrough block in order, in one shell,
 * from the repository root, with each ```js file=NAME block saved where the shell stands at that point.
 * Only the addresses change (the stack listens on free ports), so a README step that breaks fails here.
 */

interface Block {
  kind: 'sh' | 'file';
  name?: string;
  body: string;
}

export function walkthroughBlocks(readme: string): Block[] {
  const start = readme.indexOf('## Walkthrough');
  if (start < 0) throw new Error('README.md has no "## Walkthrough" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const blocks: Block[] = [];
  for (const m of section.matchAll(/^```(\w+)([^\n]*)\n([\s\S]*?)^```$/gm)) {
    const info = m[2]!.trim();
    const file = /(?:^|\s)file=(\S+)/.exec(info);
    if (file) blocks.push({ kind: 'file', name: file[1]!, body: m[3]! });
    else if (m[1] === 'sh' && /(?:^|\s)walkthrough(?:\s|$)/.test(info)) blocks.push({ kind: 'sh', body: m[3]! });
  }
  return blocks;
}

function toScript(blocks: Block[]): string {
  const parts = ['set -euo pipefail', `cd ${JSON.stringify(ROOT)}`];
  for (const b of blocks) {
    if (b.kind === 'sh') parts.push(b.body);
    else parts.push(`cat > ${b.name} <<'__README_FILE__'\n${b.body}__README_FILE__`);
  }
  return `${parts.join('\n')}\n`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function runBash(script: string, env: Record<string, string | undefined>, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    // Its own process group, so a receiver the script leaves behind dies with it.
    const child = spawn('bash', ['-c', script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => {
      out += `\n[killed after ${timeoutMs} ms]`;
      process.kill(-child.pid!, 'SIGKILL');
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group is already gone
      }
      resolve({ code, out });
    });
  });
}

describe('README walkthrough', () => {
  let stack: Stack;
  let home: string;

  beforeAll(async () => {
    stack = await startStack({ apiEnv: { WEBHOOK_ALLOW_PRIVATE: 'true' }, emulator: { tokens: ['dev-token'] } });
    home = mkdtempSync(join(tmpdir(), 'readme-home-'));
  });

  afterAll(async () => {
    await stack?.close();
    rmSync(home, { recursive: true, force: true });
    for (const f of ['fit.json', 'predictions.csv']) rmSync(join(ROOT, f), { force: true });
  });

  it('extracts the curl, CLI, SDK and webhook steps', () => {
    const blocks = walkthroughBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    const text = blocks.map((b) => b.body).join('\n');
    expect(blocks.filter((b) => b.kind === 'file').map((b) => b.name)).toEqual(['walkthrough.mjs', 'receiver.mjs']);
    for (const step of ['curl', 'pnpm cli -- fit', 'npm install', 'node walkthrough.mjs', 'node receiver.mjs', 'webhook_url=']) expect(text).toContain(step);
  });

  it('runs every block as written against a live stack', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const receiverPort = await freePort();
    const script = toScript(walkthroughBlocks(readme))
      .replaceAll('http://localhost:3000', stack.api.url)
      .replaceAll('localhost:4000', `localhost:${receiverPort}`)
      .replaceAll('.listen(4000,', `.listen(${receiverPort},`);
    expect(script).not.toMatch(/\b(3000|4000)\b/);
    // Only what a newcomer's shell has: no project settings, and a HOME of its own so the CLI's saved
    // settings go nowhere real. npm keeps using the machine's package cache.
    const env = {
      PATH: process.env.PATH,
      HOME: home,
      LANG: 'C.UTF-8',
      npm_config_cache: process.env.npm_config_cache ?? join(homedir(), '.npm'),
      npm_config_update_notifier: 'false',
    };
    const { code, out } = await runBash(script, env, 150_000);
    if (code !== 0) {
      // What the script could not print itself: the receiver's log (it sits in the SDK's temp project) and the worker's last lines.
      const receiverLog = /^DEMO=(.*)$/m.exec(out)?.[1];
      const worker = stack.worker.output.slice(-40).join('\n');
      throw new Error(`walkthrough exited ${code}:\n${out}\n--- worker (last 40 lines)\n${worker}${receiverLog ? `\n--- receiver.log\n${receiverLog}` : ''}`);
    }
    // curl: the predict answered finished, with probabilities; the result as CSV
    expect(out).toMatch(/"status":"succeeded","result":\{"classes":\["setosa","versicolor","virginica"\],"output_type":"probas"/);
    expect(out).toMatch(/prediction/);
    // CLI: predictions written, one line per iris row plus a header
    expect(out).toMatch(/predictions written to \S*\/predictions\.csv\n/);
    // SDK: progress on stderr, result on stdout
    expect(out).toMatch(/"classes":\["setosa","versicolor","virginica"\]/);
    // webhook: the receiver verified the signature of the event it asked for; the delivery is logged
    expect(out).toMatch(/verified job\.succeeded [0-9a-f-]{36} succeeded/);
    expect(out).toMatch(/"event_type":"job\.succeeded","status":"delivered"/);
    expect(out).not.toMatch(/rejected/);
  }, 180_000);
});
