import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ROOT } from '../helpers/processes.js';

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const engines = (path: string) => (JSON.parse(read(path)) as { engines?: { node?: string } }).engines?.node;

describe('one Node version everywhere', () => {
  const root = engines('package.json');
  const min = /^>=(\d+\.\d+)$/.exec(root ?? '')?.[1];

  it('the root package.json names a minimum', () => {
    expect(min).toBeDefined();
  });

  it('every app and package says the same', () => {
    const manifests = ['apps', 'packages'].flatMap((d) => readdirSync(join(ROOT, d)).map((p) => `${d}/${p}/package.json`));
    for (const path of manifests) {
      const own = engines(path);
      if (own !== undefined) expect({ path, engines: own }).toEqual({ path, engines: root });
    }
  });

  it('README, the Dockerfile and CI name that minimum, and nothing older', () => {
    expect(read('README.md')).toContain(`Node ${min} or newer`);
    expect(read('README.md')).not.toMatch(/Needs Node \d+,/);
    expect(read('Dockerfile')).toContain(`ARG NODE_VERSION=${min}`);
    expect(read('Dockerfile')).not.toMatch(/FROM node:\d+-/);
    const [major, minor] = min!.split('.');
    expect(read('.ci/run')).toContain(`a<${major}||(a===${major}&&b<${minor})`);
  });
});
