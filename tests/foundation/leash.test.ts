import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { ROOT, spawnNode, testEnv } from '../helpers/processes.js';

// A stand-in for a jest worker: starts `sleep` under the leash (as spawnLeashed does), prints the
// leash's pid (its process group), then idles until killed.
const parent = `
const { spawn } = require('node:child_process');
const leash = spawn(process.execPath, [${JSON.stringify(join(ROOT, 'tests', 'helpers', 'leash.js'))}, 'sleep', '600'], { detached: true, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
leash.on('spawn', () => console.log(JSON.stringify({ group: leash.pid })));
setInterval(() => undefined, 60_000);
`;

const groupAlive = (pgid: number) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('leash.js', () => {
  it('kills the program it runs when the process that started it is SIGKILLed', async () => {
    const stand = spawnNode('parent', ['-e', parent], { env: testEnv() });
    const { group } = JSON.parse(await stand.waitFor(/"group"/)) as { group: number };
    expect(groupAlive(group)).toBe(true);
    await stand.stop('SIGKILL');
    for (let i = 0; i < 200 && groupAlive(group); i++) await new Promise((r) => setTimeout(r, 25));
    expect(groupAlive(group)).toBe(false);
  });
});
