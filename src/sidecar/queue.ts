/** The studies waiting to be checked: each at most once, in arrival order, with a wake-up signal. */

/** A de-duplicating FIFO of study IDs that a worker can wait on. */
export class StudyQueue {
  private readonly items = new Map<string, number | undefined>();
  private wakeUp: (() => void) | undefined;

  /** Adds a study (with the change that announced it); a study already waiting keeps its place. */
  add(studyId: string, seq?: number): void {
    if (!this.items.has(studyId)) this.items.set(studyId, seq);
    this.signal();
  }

  /** Takes the oldest study, or undefined when empty. */
  take(): { studyId: string; seq: number | undefined } | undefined {
    const first = this.items.entries().next();
    if (first.done) return undefined;
    const [studyId, seq] = first.value;
    this.items.delete(studyId);
    return { studyId, seq };
  }

  /** How many studies wait. */
  get length(): number {
    return this.items.size;
  }

  /** Resolves after ms, or earlier when something is added or signal() is called. */
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
