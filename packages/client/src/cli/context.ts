import type { TabPFNJobsClient } from '../client.js';
import type { Output } from './output.js';

/** Wrong use of the CLI (exit code 2), as opposed to an API error (exit code 1). */
export class UsageError extends Error {}

export interface CommandContext {
  client: TabPFNJobsClient;
  out: Output;
  flags: Record<string, string | boolean | undefined>;
  args: string[];
  url: string;
  env: NodeJS.ProcessEnv;
  /** The caller's directory: relative paths are resolved against it. */
  cwd: string;
}

export function arg(ctx: CommandContext, i: number, name: string): string {
  const v = ctx.args[i];
  if (!v) throw new UsageError(`missing <${name}>`);
  return v;
}

export const str = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);

/** A positive number flag (`--timeout 30`, `--limit 10`), or undefined when absent. */
export function positive(ctx: CommandContext, name: string, integer = false): number | undefined {
  const raw = str(ctx.flags[name]);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new UsageError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, not "${raw}"`);
  return n;
}

