/**
 * The studies waiting to be checked and the ones in hand, with the changes that announced them,
 * so the cursor never passes a change whose study is not checked yet (the low-water mark).
 */

/** A study taken from the queue, with the earliest change it answers (undefined when it came from a wake-up or a sweep). */
export interface Taken {
  readonly studyId: string;
  readonly seq: number | undefined;
}

/**
 * A de-duplicating FIFO of study IDs that workers take from. A study is in hand from take() to
 * done(); a study added meanwhile waits and is not handed to a second worker until then.
 */
export class StudyQueue {
  /** Waiting studies, oldest first, each with the earliest change that announced it since it was last taken. */
  private readonly waiting = new Map<string, number | undefined>();
  private readonly inHand = new Map<string, number | undefined>();
  private wakeUp: (() => void) | undefined;

  /** Adds a study (with the change that announced it); a study already waiting keeps its place and earliest change. */
  add(studyId: string, seq?: number): void {
    if (this.waiting.has(studyId)) {
      const earlier = this.waiting.get(studyId);
      if (seq !== undefined && (earlier === undefined || seq < earlier)) this.waiting.set(studyId, seq);
    } else {
      this.waiting.set(studyId, seq);
    }
    this.signal();
  }

  /** Takes the oldest waiting study that no worker holds, or undefined when there is none. */
  take(): Taken | undefined {
    for (const [studyId, seq] of this.waiting) {
      if (this.inHand.has(studyId)) continue;
      this.waiting.delete(studyId);
      this.inHand.set(studyId, seq);
      return { studyId, seq };
    }
    return undefined;
  }

  /**
   * Keeps the cursor before `seq` while the study is in hand: a change its own work caused, which
   * the feed skips instead of queueing (src/sidecar/own-writes.ts), stays unhandled until the work ends.
   */
  hold(studyId: string, seq: number): void {
    if (!this.inHand.has(studyId)) return;
    const held = this.inHand.get(studyId);
    if (held === undefined || seq < held) this.inHand.set(studyId, seq);
  }

  /** Ends a take: the changes it answered are handled. */
  done(studyId: string): void {
    this.inHand.delete(studyId);
    this.signal();
  }

  /** Studies waiting (not in hand). */
  get length(): number {
    return this.waiting.size;
  }

  /** Studies in hand. */
  get busy(): number {
    return this.inHand.size;
  }

  /**
   * The earliest change not handled yet (waiting or in hand), or undefined when every change that
   * was queued is handled: the cursor may advance to just before it and no further.
   */
  lowWater(): number | undefined {
    let low: number | undefined;
    for (const map of [this.waiting, this.inHand]) {
      for (const seq of map.values()) if (seq !== undefined && (low === undefined || seq < low)) low = seq;
    }
    return low;
  }

  /** Resolves after ms, or earlier when something is added, done, or signal() is called. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        if (self.wakeUp === done) self.wakeUp = undefined;
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** Ends a current wait early. */
  signal(): void {
    this.wakeUp?.();
  }
}
