import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/pipeline/buffer-pool.js';

describe('BufferPool', () => {
  it('hands out buffers of the size asked for and reuses memory given back, never memory still lent', () => {
    const pool = new BufferPool(1024 * 1024);
    const a = pool.take(500_000);
    const b = pool.take(500_000);
    expect(a.length).toBe(500_000);
    expect(b.buffer).not.toBe(a.buffer);
    pool.give(a);
    expect(pool.kept).toBeGreaterThanOrEqual(500_000);
    // A slightly different size of the same series fits the same memory.
    const c = pool.take(499_000);
    expect(c.length).toBe(499_000);
    expect(c.buffer).toBe(a.buffer);
    expect(pool.kept).toBe(0);
    // Nothing idle: new memory, not b's (still lent).
    expect(pool.take(10).buffer).not.toBe(b.buffer);
  });

  it('takes back only what it lent, once, and keeps at most its limit idle', () => {
    const pool = new BufferPool(128 * 1024);
    const foreign = Buffer.allocUnsafeSlow(64 * 1024);
    pool.give(foreign);
    expect(pool.kept).toBe(0);
    const [x, y, z] = [pool.take(60_000), pool.take(60_000), pool.take(60_000)];
    pool.give(x);
    pool.give(x);
    expect(pool.kept).toBe(64 * 1024);
    pool.give(y);
    pool.give(z);
    expect(pool.kept).toBe(128 * 1024);
    // Too large for what is idle: new memory, the idle buffers stay.
    const big = pool.take(200_000);
    expect([x.buffer, y.buffer]).not.toContain(big.buffer);
    expect(pool.kept).toBe(128 * 1024);
  });
});
