import { setFlagsFromString } from 'node:v8';

/**
 * Sets how much bytecode a function runs before V8 considers optimizing it (`--interrupt-budget`;
 * 0 keeps V8's default). A worker's job path runs each of its many functions once or a few times per
 * job: under V8's default they stay unoptimized for the first few thousand jobs of a process. A
 * quarter of V8's default (67,584 in Node 20) optimizes them about four times sooner (bench/RESULTS.md).
 * The price is more compiling early on, on a background thread: the api keeps V8's default, as that
 * compiling slowed its answers to a burst of large unauthenticated uploads on a busy machine. Set at
 * start, before the hot paths have run; V8 reads it each time it renews a function's budget.
 */
export function tuneTierUp(interruptBudget: number): void {
  if (interruptBudget > 0) setFlagsFromString(`--interrupt-budget=${interruptBudget}`);
}
