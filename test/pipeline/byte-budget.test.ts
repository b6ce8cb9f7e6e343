import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../src/pipeline/byte-budget.js';

describe('ByteBudget', () => {
  it('holds at most its limit in bytes, in order of request, and lets one file larger than the limit through alone', async () => {
    const budget = new ByteBudget(100);
    const order: string[] = [];
    const a = await budget.reserve(60);
    const b = budget.reserve(60).then((release) => (order.push('b'), release));
    const c = budget.reserve(30).then((release) => (order.push('c'), release));
    await new Promise((r) => setTimeout(r, 10));
    // c would fit beside a, but b asked first: no overtaking, so a large file is never starved.
    expect(order).toEqual([]);
    expect(budget.inUse).toBe(60);
    a();
    const [releaseB, releaseC] = await Promise.all([b, c]);
    expect(order).toEqual(['b', 'c']);
    expect(budget.inUse).toBe(90);
    releaseB();
    releaseC();
    releaseC();
    expect(budget.inUse).toBe(0);
    const huge = await budget.reserve(500);
    expect(budget.inUse).toBe(500);
    huge();
    expect(budget.inUse).toBe(0);
  });
});
