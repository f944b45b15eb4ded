import { afterAll } from '@jest/globals';
import { reapAll } from './processes.js';

// Every test file: whatever process group a test started and left running is killed when the file ends.
afterAll(() => reapAll());
