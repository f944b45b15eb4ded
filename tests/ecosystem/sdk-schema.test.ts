import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import openapiTS, { astToString } from 'openapi-typescript';
import { VERSION, buildOpenApiDocument } from '@tabpfn-jobs/api';
import { ROOT } from '../helpers/processes.js';

describe('packages/client/src/schema.ts', () => {
  it('matches the API document (run `pnpm --filter @tabpfn-jobs/client generate` after changing a schema)', async () => {
    const committed = readFileSync(join(ROOT, 'packages/client/src/schema.ts'), 'utf8');
    const fresh = astToString(await openapiTS(buildOpenApiDocument(VERSION) as Parameters<typeof openapiTS>[0]));
    expect(committed.endsWith(fresh)).toBe(true);
  });
});
