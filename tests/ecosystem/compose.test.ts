import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ROOT } from '../helpers/processes.js';

/** `docker compose config` (v2) or `docker-compose config` (v1), whichever is installed. */
function composeCommand(): string[] | undefined {
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return ['docker', 'compose'];
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose'];
  return undefined;
}

const compose = composeCommand();
// Compose reads the project's `.env` (which `pnpm start` writes) unless told otherwise: give it an empty one.
const emptyEnvFile = join(mkdtempSync(join(tmpdir(), 'compose-env-')), 'empty.env');
writeFileSync(emptyEnvFile, '');
const run = (args: string[], env: Record<string, string> = {}) =>
  execFileSync(compose![0]!, [...compose!.slice(1), '--env-file', emptyEnvFile, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ENCRYPTION_KEYS: 'k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

(compose ? describe : describe.skip)('docker-compose.yml', () => {
  it('is accepted by `compose config`, with the five services', () => {
    const services = run(['config', '--services']).trim().split('\n').sort();
    expect(services).toEqual(['api', 'emulator', 'postgres', 'redis', 'worker']);
  });

  it('lets the worker scale: no host ports and no container name on it', () => {
    const lines = run(['config']).split('\n');
    const start = lines.indexOf('  worker:');
    expect(start).toBeGreaterThan(0);
    // The worker's block: up to the next service (2-space indent) or top-level key.
    const end = lines.findIndex((l, i) => i > start && /^( {2})?\S/.test(l));
    const block = lines.slice(start, end === -1 ? undefined : end).join('\n');
    expect(block).not.toMatch(/\n {4}ports:/);
    expect(block).not.toMatch(/container_name/);
    expect(block).toMatch(/METRICS_PORT/);
  });

  it('refuses to start without ENCRYPTION_KEYS (no default secret)', () => {
    expect(() => run(['config'], { ENCRYPTION_KEYS: '' })).toThrow(/ENCRYPTION_KEYS/);
  });
});
