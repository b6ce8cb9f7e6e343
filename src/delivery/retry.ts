/** Attempts with exponential backoff, for one destination of a delivery. */

/** Waits a number of milliseconds (passed in so tests need no timing tricks). */
export type Sleep = (ms: number) => Promise<void>;

/** The real sleep. */
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** How to retry. */
export interface RetryPolicy {
  readonly attempts: number;
  readonly baseMs: number;
  readonly sleep: Sleep;
  /** True for failures another attempt cannot fix: they end the attempts at once. */
  readonly permanent: (error: unknown) => boolean;
}

/** What came of the attempts. */
export type Attempted<T> =
  | { readonly ok: true; readonly value: T; readonly attempts: number }
  | { readonly ok: false; readonly error: unknown; readonly attempts: number; readonly permanent: boolean };

/** Runs `fn` until it succeeds, fails permanently, or runs out of attempts; never throws. */
export async function attempt<T>(policy: RetryPolicy, fn: () => Promise<T>): Promise<Attempted<T>> {
  for (let n = 1; ; n++) {
    try {
      return { ok: true, value: await fn(), attempts: n };
    } catch (error) {
      const permanent = policy.permanent(error);
      if (permanent || n >= policy.attempts) return { ok: false, error, attempts: n, permanent };
      await policy.sleep(policy.baseMs * 2 ** (n - 1));
    }
  }
}
