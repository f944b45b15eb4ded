import { describe, expect, it } from '@jest/globals';
import type { ModelRow } from '@tabpfn-jobs/shared/repositories';
import { createReadyModelCache } from './ready-model-cache.js';

const model = (id: string, status: ModelRow['status'] = 'ready') =>
  ({ id, user_id: 'u', status, error: null, task: 'classification', fit_key: 'k', n_samples: 3, feature_names: ['a'], feature_types: ['number'], description: 'x' }) as unknown as ModelRow;

describe('ready model cache', () => {
  it('keeps ready models only, and only what a submit reads of them', () => {
    const cache = createReadyModelCache();
    cache.remember(model('a'));
    cache.remember(model('p', 'pending'));
    cache.remember(model('f', 'failed'));
    expect(cache.get('a')).toEqual({ id: 'a', user_id: 'u', status: 'ready', error: null, task: 'classification', fit_key: 'k', n_samples: 3, feature_names: ['a'], feature_types: ['number'] });
    expect(cache.get('p')).toBeUndefined();
    expect(cache.get('f')).toBeUndefined();
  });

  it('forgets on request, after its TTL, and the oldest entry past its bound', async () => {
    const bounded = createReadyModelCache({ maxEntries: 2 });
    for (const id of ['a', 'b', 'c']) bounded.remember(model(id));
    expect(['a', 'b', 'c'].map((id) => bounded.get(id)?.id)).toEqual([undefined, 'b', 'c']);
    bounded.forget('b');
    expect(bounded.get('b')).toBeUndefined();

    const brief = createReadyModelCache({ ttlMs: 20 });
    brief.remember(model('a'));
    expect(brief.get('a')?.id).toBe('a');
    await new Promise((r) => setTimeout(r, 40));
    expect(brief.get('a')).toBeUndefined();
    const off = createReadyModelCache({ ttlMs: 0 });
    off.remember(model('a'));
    expect(off.get('a')).toBeUndefined();
  });
});
