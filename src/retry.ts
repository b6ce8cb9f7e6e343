/**
 * The one retry primitive: attempts with exponential backoff (p-retry underneath), where
 * failureClass in errors.ts alone decides what another attempt may fix. Every loop that tries
 * again (Orthanc calls, compare-and-set writes, deliveries) goes through here; the sidecar's
 * per-study attempts, which outlive the process, use the same backoff and classification.
 */
import pRetry from 'p-retry';
import { failureClass } from './errors.js';

/** Waits a number of milliseconds (passed in so tests record delays instead of waiting them). */
export type Sleep = (ms: number) => Promise<void>;

/** The real sleep. */
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** How to retry. */
export interface RetryPolicy {
  /** Attempts in all, the first included (1 = no retry). */
  readonly attempts: number;
  /** Delay before the second attempt; it doubles for each next one. */
  readonly baseMs: number;
  /** Longest delay between two attempts. */
  readonly maxMs?: number;
  readonly sleep?: Sleep;
}

/** The delay before attempt `attempt + 1`: baseMs doubled per attempt made, at most maxMs. */
export function backoffMs(attempt: number, baseMs: number, maxMs = Number.POSITIVE_INFINITY): number {
  return Math.min(baseMs * 2 ** Math.max(0, attempt - 1), maxMs);
}

/** What came of the attempts. */
export type Attempted<T> =
  | { readonly ok: true; readonly value: T; readonly attempts: number }
  | { readonly ok: false; readonly error: unknown; readonly attempts: number; readonly permanent: boolean };

/** Runs `fn` until it succeeds, fails with anything but a transient fault, or runs out of attempts; never throws. */
export async function attempt<T>(policy: RetryPolicy, fn: (attempt: number) => Promise<T>): Promise<Attempted<T>> {
  let made = 0;
  try {
    const value = await withRetry(policy, (n) => {
      made = n;
      return fn(n);
    });
    return { ok: true, value, attempts: made };
  } catch (error) {
    return { ok: false, error, attempts: made, permanent: failureClass(error) !== 'transient' };
  }
}

/** Runs `fn` with retries of transient faults; throws the last error (unchanged) otherwise. */
export function withRetry<T>(policy: RetryPolicy, fn: (attempt: number) => Promise<T>): Promise<T> {
  const sleep = policy.sleep ?? realSleep;
  return pRetry(fn, {
    retries: Math.max(0, policy.attempts - 1),
    // p-retry's own timer is not used (minTimeout 0): the wait happens in shouldRetry, the last
    // hook before the next attempt, so that the sleep is the one passed in.
    minTimeout: 0,
    factor: 1,
    shouldRetry: async ({ error, attemptNumber }) => {
      if (failureClass(error) !== 'transient') return false;
      await sleep(backoffMs(attemptNumber, policy.baseMs, policy.maxMs));
      return true;
    },
  });
}
