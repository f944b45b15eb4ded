import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dotEnvPath, envInt, parseEnv } from './env.js';

describe('parseEnv', () => {
  const schema = z.object({ SECRET: z.string().min(1), PORT: envInt(3000, 1, 65_535) });

  it('names a missing variable as missing', () => {
    expect(() => parseEnv(schema, {})).toThrow('SECRET is required but not set');
  });

  it('names an invalid value with what is wrong, not as missing', () => {
    expect(() => parseEnv(schema, { SECRET: 'x', PORT: 'abc' })).toThrow(/PORT: (?!.*required)/);
  });

  it('applies defaults', () => {
    expect(parseEnv(schema, { SECRET: 'x' })).toEqual({ SECRET: 'x', PORT: 3000 });
  });
});

describe('dotEnvPath', () => {
  const root = mkdtempSync(join(tmpdir(), 'dotenv-'));
  const nested = join(root, 'a', 'b');
  mkdirSync(nested, { recursive: true });
  writeFileSync(join(root, '.env'), 'X=1\n');

  it('finds the nearest .env walking up when TABPFN_JOBS_DOTENV is unset', () => {
    expect(dotEnvPath({}, nested)).toBe(join(root, '.env'));
  });

  it.each(['off', 'OFF', 'false', '0', 'no'])('reads none with TABPFN_JOBS_DOTENV=%s', (v) => {
    expect(dotEnvPath({ TABPFN_JOBS_DOTENV: v }, nested)).toBeUndefined();
  });

  it('reads exactly the file TABPFN_JOBS_DOTENV names, relative to cwd', () => {
    expect(dotEnvPath({ TABPFN_JOBS_DOTENV: 'custom.env' }, nested)).toBe(join(nested, 'custom.env'));
  });
});
