/**
 * A bound on the bytes of DICOM files held in memory at once, shared by every study a process
 * works on (issue 17: a count of files is no bound when one file is 500 KB and another 500 MB).
 */

/** Default budget: a few large CT images per study in flight, well under the sidecar's memory target. */
export const DEFAULT_BYTE_BUDGET = 64 * 1024 * 1024;

/** Hands out byte reservations; a request larger than the whole budget waits until nothing else is held. */
export class ByteBudget {
  private held = 0;
  private readonly waiting: { bytes: number; grant: () => void }[] = [];

  constructor(readonly limit: number = DEFAULT_BYTE_BUDGET) {}

  /** Bytes reserved right now. */
  get inUse(): number {
    return this.held;
  }

  /** Reservations waiting for bytes to be released. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Waits until `bytes` fit (or nothing else is held), reserves them, and answers their release. */
  async reserve(bytes: number): Promise<() => void> {
    const wanted = Math.max(0, bytes);
    if (this.waiting.length === 0 && this.fits(wanted)) this.held += wanted;
    // wake() counts the bytes as held when it grants them.
    else await new Promise<void>((grant) => this.waiting.push({ bytes: wanted, grant }));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held -= wanted;
      this.wake();
    };
  }

  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.limit;
  }

  /** Grants waiters in order, as long as the first fits (first come, first served: a large file is not starved). */
  private wake(): void {
    while (this.waiting.length > 0 && this.fits((this.waiting[0] as { bytes: number }).bytes)) {
      const next = this.waiting.shift() as { bytes: number; grant: () => void };
      this.held += next.bytes;
      next.grant();
    }
  }
}

/** The budget of this process. */
export const fileBytes = new ByteBudget();
