import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { envInt, parseEnv } from './env.js';

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
