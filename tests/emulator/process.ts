import { join } from 'node:path';
import { type AppProcess, ROOT, TSX, spawnNode, testEnv } from '../helpers/processes.js';

/**
 * The emulator as its own process (as `pnpm start:emulator` runs it), on a free port, with only the
 * environment a test gives it and any command-line `args` (`--seed 7`). Resolves once it says where
 * it listens; the process dies with the test file (tests/helpers/process-reaper.ts).
 */
export async function startEmulatorProcess(env: Record<string, string>, args: string[] = []): Promise<{ app: AppProcess; url: string }> {
  const app = spawnNode('emulator', [...TSX, join(ROOT, 'apps/tabpfn-emulator/src/main.ts'), ...args], { env: testEnv({ EMULATOR_PORT: '0', ...env }) });
  const url = JSON.parse(await app.waitFor(/emulator listening/)).url as string;
  return { app, url };
}
