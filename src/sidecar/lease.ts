/**
 * A replica's claim on one study, kept in the study's status metadata: written with
 * compare-and-set (If-Match), renewed while the study is in hand, and given up for good the
 * first time a renewal loses or the lease runs too close to its end to start another write.
 */
import { RaceLostError } from '../errors.js';
import type { Logger } from '../log.js';
import type { OrthancClient } from '../orthanc/client.js';
import { replaceStatus, type HeldStatus } from '../status/status.js';

/** Thrown between writes once the lease is gone, so the replica writes nothing more for the study. */
export class LeaseLostError extends RaceLostError {
  /** Makes the error; `reason` says how the lease was lost (renewal conflict, expiry). */
  constructor(
    readonly studyId: string,
    readonly reason: string,
  ) {
    super(`the claim on study ${studyId} was lost (${reason}); another replica may hold it now`, { studyId, reason });
    this.name = 'LeaseLostError';
  }
}

/** What a lease needs. */
export interface LeaseDeps {
  readonly client: OrthancClient;
  readonly log: Logger;
  readonly leaseMs: number;
  /** Wall clock, shared with the other replicas through leaseUntil (same clock assumptions as any lease). */
  readonly now: () => Date;
}

/** A held claim that renews itself every third of its length until released. */
export class Lease {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private renewal: Promise<void> = Promise.resolve();
  private renewing = false;
  private until: number;

  constructor(
    private readonly deps: LeaseDeps,
    readonly studyId: string,
    private held: HeldStatus,
  ) {
    this.until = Date.parse(held.status.leaseUntil ?? '') || 0;
    this.timer = setInterval(() => this.tick(), Math.max(100, Math.floor(deps.leaseMs / 3)));
    this.timer.unref();
  }

  /** True once the lease is gone; nothing more may be written for the study. */
  get lost(): boolean {
    return this.controller.signal.aborted;
  }

  /** When the lease ends unless renewed (epoch ms). */
  get untilMs(): number {
    return this.until;
  }

  /** Why the lease was lost, when it was. */
  get reason(): string | undefined {
    return this.lost ? String(this.controller.signal.reason) : undefined;
  }

  /**
   * Throws LeaseLostError unless a write may start now. A write is not started in the last quarter
   * of the lease: other replicas take over at its end, and a request already in flight needs time
   * to land before then, since Orthanc has no way to fence a late upload.
   */
  check(): void {
    if (!this.lost && this.until - this.deps.now().getTime() < this.deps.leaseMs / 4) this.lose('not renewed in time');
    if (this.lost) throw new LeaseLostError(this.studyId, this.reason ?? 'lost');
  }

  /** Stops renewing and answers the status and ETag to replace with the outcome. */
  async release(): Promise<HeldStatus> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.renewal;
    return this.held;
  }

  private tick(): void {
    if (this.lost) return;
    if (this.until - this.deps.now().getTime() < this.deps.leaseMs / 4) {
      this.lose('not renewed in time');
      return;
    }
    // One renewal at a time: ticks that come while Orthanc hangs are skipped, not queued behind it.
    if (this.renewing) return;
    this.renewing = true;
    this.renewal = this.renew().finally(() => (this.renewing = false));
  }

  private async renew(): Promise<void> {
    if (this.lost || this.timer === undefined) return;
    const now = this.deps.now();
    const next = { ...this.held.status, updatedAt: now.toISOString(), leaseUntil: new Date(now.getTime() + this.deps.leaseMs).toISOString() };
    try {
      const written = await replaceStatus(this.deps.client, this.studyId, this.held, next);
      if (written === undefined) return this.lose('renewal conflict: the status was written by somebody else');
      this.held = written;
      this.until = now.getTime() + this.deps.leaseMs;
    } catch (error) {
      // Orthanc away: keep the lease while it lasts; check() stops the writes when it runs out.
      this.deps.log.warn({ studyId: this.studyId, event: 'renew-failed', err: error }, 'could not renew the claim');
    }
  }

  private lose(reason: string): void {
    if (this.lost) return;
    clearInterval(this.timer);
    this.controller.abort(reason);
  }
}
