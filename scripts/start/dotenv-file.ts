import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';

export const HEADER = '# Written by `pnpm start` for local development: generated secrets only. Do not commit.';

/**
 * Lines older versions of `pnpm start` froze into `.env` although they are derived at start
 * (TABPFN_API_URL from EMULATOR_PORT) or are development defaults. Removed when found with exactly
 * the value that version wrote; a value someone edited stays and is honoured.
 */
const FROZEN_BY_OLD_VERSIONS: Record<string, string> = {
  TABPFN_API_URL: 'http://127.0.0.1:8089',
  EMULATOR_TOKENS: 'dev-token',
  EMULATOR_CONTROL: 'true',
  WEBHOOK_ALLOW_PRIVATE: 'true',
};

/** The supervisor's `.env`: TABPFN_JOBS_DOTENV=off → none, a path → that file, unset → `<root>/.env`. */
export function dotEnvFile(env: NodeJS.ProcessEnv, root: string): string | undefined {
  const setting = env.TABPFN_JOBS_DOTENV?.trim();
  if (!setting) return resolve(root, '.env');
  return ['off', 'false', '0', 'no'].includes(setting.toLowerCase()) ? undefined : resolve(root, setting);
}

/**
 * Reads `.env`, migrates an old-style one (drops frozen derived values) and, on a first run outside
 * production, writes the secrets nothing may default: ENCRYPTION_KEYS. Returns the file's values
 * and one note per change, for the log.
 */
export function prepareDotEnv(file: string, opts: { generateSecrets: boolean; env: NodeJS.ProcessEnv }) {
  const notes: string[] = [];
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const kept = text.split('\n').filter((line) => {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m || FROZEN_BY_OLD_VERSIONS[m[1]!] !== m[2]) return true;
    notes.push(`removed ${m[1]} from ${file}: it is derived at start now`);
    return false;
  });
  if (notes.length) text = kept.join('\n').replace(/^# Written by `pnpm start`.*$/m, HEADER);
  const values = parseEnv(text) as Record<string, string>;
  if (opts.generateSecrets && !values.ENCRYPTION_KEYS && !opts.env.ENCRYPTION_KEYS) {
    const line = `ENCRYPTION_KEYS=k1:${randomBytes(32).toString('base64')}`;
    text = text ? `${text.replace(/\n*$/, '\n')}${line}\n` : `${HEADER}\n${line}\n`;
    values.ENCRYPTION_KEYS = line.slice('ENCRYPTION_KEYS='.length);
    notes.push(`wrote a fresh ENCRYPTION_KEYS to ${file}`);
  }
  if (notes.length) writeFileSync(file, text, { mode: 0o600 });
  return { values, notes };
}
