import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** Where `setup` saves the URL and key; `TABPFN_JOBS_CONFIG` overrides (tests, several accounts). */
export function settingsPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TABPFN_JOBS_CONFIG) return env.TABPFN_JOBS_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'tabpfn-jobs', 'config.json');
}

export interface Settings {
  url?: string;
  api_key?: string;
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  try {
    return JSON.parse(readFileSync(settingsPath(env), 'utf8')) as Settings;
  } catch {
    return {};
  }
}

/** Written readable by the owner only: it holds an API key. */
export function writeSettings(settings: Settings, env: NodeJS.ProcessEnv = process.env): string {
  const path = settingsPath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

export const DEFAULT_URL = 'http://localhost:3000';

/** Flags win over the environment, which wins over the saved settings. */
export function resolveConnection(flags: { url?: string; 'api-key'?: string }, env: NodeJS.ProcessEnv = process.env) {
  const saved = readSettings(env);
  return {
    url: flags.url ?? env.TABPFN_JOBS_URL ?? saved.url ?? DEFAULT_URL,
    apiKey: flags['api-key'] ?? env.TABPFN_JOBS_API_KEY ?? saved.api_key,
  };
}
