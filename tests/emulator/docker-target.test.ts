import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ROOT } from '../helpers/processes.js';

// No Docker engine in CI: the Dockerfile's emulator target is checked by reading it.
const stages = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
  .split(/^(?=FROM )/m)
  .filter((s) => s.startsWith('FROM '))
  .map((text) => ({ name: /^FROM \S+ AS (\S+)/.exec(text)?.[1], from: /^FROM (\S+)/.exec(text)?.[1], text }));

describe('Dockerfile', () => {
  it('has an `emulator` target built on the runtime image, with its own command and healthcheck', () => {
    const emulator = stages.find((s) => s.name === 'emulator');
    expect(emulator?.from).toBe('runtime');
    expect(emulator?.text).toMatch(/^CMD \["node", "apps\/tabpfn-emulator\/dist\/main\.js"\]$/m);
    expect(emulator?.text).toMatch(/^HEALTHCHECK .*EMULATOR_PORT/m);
    expect(emulator?.text).toMatch(/EMULATOR_HOST=0\.0\.0\.0/);
  });

  it('keeps the all-roles runtime image as the default (last) target', () => {
    const last = stages.at(-1);
    expect(last?.from).toBe('runtime');
    // Nothing but comments after its FROM: the same image as `runtime`, whose command is the api.
    expect(
      last?.text
        .split('\n')
        .slice(1)
        .filter((l) => l.trim() && !l.startsWith('#')),
    ).toEqual([]);
    expect(stages.find((s) => s.name === 'runtime')?.text).toMatch(/^CMD \["node", "apps\/api\/dist\/main\.js"\]$/m);
  });
});
