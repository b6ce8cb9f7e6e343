/** The one worker pool (p-limit): bounded concurrency for work over many instances or studies. */
import pLimit, { type LimitFunction } from 'p-limit';

/** A pool that runs at most its limit of calls at once, the others waiting in call order. */
export type Pool = LimitFunction;

/** Makes a pool of at most `limit` calls in flight (at least one). */
export function createPool(limit: number): Pool {
  return pLimit(Math.max(1, Math.floor(limit)));
}

/**
 * Maps items with at most `limit` calls in flight; results keep the input order. After a failure
 * nothing new starts, and the calls in flight finish before the first failure is thrown, so that
 * nothing keeps writing behind the caller's back.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const pool = createPool(limit);
  let failure: { error: unknown } | undefined;
  const results = await Promise.all(
    items.map((item, index) =>
      pool(async (): Promise<R | undefined> => {
        if (failure) return undefined;
        try {
          return await fn(item, index);
        } catch (error) {
          failure ??= { error };
          return undefined;
        }
      }),
    ),
  );
  if (failure) throw failure.error;
  return results as R[];
}
