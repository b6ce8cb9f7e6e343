/**
 * The metadata writes this replica makes while it processes a study (claim, lease renewals, the
 * FHIR Bundle, the final status), counted so that the feed need not check the study again for the
 * UpdatedMetadata changes they cause (issue 17: two metadata reads per study, each also costing
 * Orthanc CPU). Orthanc's changes name the study, not the metadata nor the writer, so a change
 * cannot be told apart from a person's; the count is what makes skipping safe:
 *
 *  - a unit is counted before its PUT is sent, so it exists before its change can be seen;
 *  - a change that finds a unit takes it and is skipped; one that finds none is checked as usual;
 *  - a PUT that answered is one change (compare-and-set: a resend never lands twice), so every
 *    unit stands for exactly one change still to come, or for one that another change took.
 *
 * Hence unseen changes of ours = units + changes of others skipped: when a person's mark takes a
 * unit, one of our own changes is still unseen and finds no unit, so it is checked, and that check
 * reads the metadata after the mark was logged. Unseen changes are read again after a crash (the
 * cursor never passes what was not read), and a skipped one stays held by the study in hand until
 * its work ends (StudyQueue.hold). A write that lost (409) or failed or may have failed is no change
 * to count on: the study is then checked again after its work, from the first change skipped (settle).
 * Units left over after the work wait for their changes; they are dropped (which only means more
 * checks) after UNIT_LIFETIME_MS, and when the study is created again (its old changes are gone
 * from Orthanc's log with the deleted study).
 */
import type { OrthancClient } from '../orthanc/client.js';

/** How long units wait for their changes after the work ended; a change comes within a poll or two. */
export const UNIT_LIFETIME_MS = 60_000;

interface Ledger {
  /** Changes of ours to come that no change has taken yet. */
  units: number;
  /** A counted write lost, failed or may have failed: the study is checked again after its work. */
  dirty: boolean;
  /** The first change skipped while the work ran (held until it ends). */
  firstSkipped: number | undefined;
  /** While the work runs, undefined; then when the leftover units are dropped. */
  expiresAt: number | undefined;
}

/** What the end of a study's work asks for. */
export interface Settled {
  /** Check the study again, holding the cursor before this change (or nothing, when none was skipped). */
  readonly checkAgain: boolean;
  readonly seq: number | undefined;
}

/** The counted writes of every study this replica is processing or has just processed. */
export class OwnWrites {
  private readonly ledgers = new Map<string, Ledger>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A study's work begins: its writes from now on are counted. */
  begin(studyId: string): void {
    const ledger = this.ledgers.get(studyId);
    if (ledger) ledger.expiresAt = undefined;
    else this.ledgers.set(studyId, { units: 0, dirty: false, firstSkipped: undefined, expiresAt: undefined });
  }

  /**
   * A study's work ended: whether to check it again. Clean, the leftover units wait for their
   * changes; dirty, they are dropped (every later change is checked) and the study is checked again.
   */
  settle(studyId: string): Settled {
    const ledger = this.ledgers.get(studyId);
    if (!ledger) return { checkAgain: false, seq: undefined };
    const settled = { checkAgain: ledger.dirty, seq: ledger.firstSkipped };
    if (ledger.dirty || ledger.units === 0) this.ledgers.delete(studyId);
    else {
      ledger.firstSkipped = undefined;
      ledger.expiresAt = this.now() + UNIT_LIFETIME_MS;
    }
    return settled;
  }

  /**
   * An UpdatedMetadata change of the study, read from the feed: true when it takes a unit (skip it,
   * and hold `seq` while the work runs), false when it must be checked.
   */
  take(studyId: string, seq: number): boolean {
    const ledger = this.ledgers.get(studyId);
    if (!ledger || ledger.units === 0) return false;
    if (ledger.expiresAt !== undefined && ledger.expiresAt <= this.now()) {
      this.ledgers.delete(studyId);
      return false;
    }
    ledger.units--;
    if (ledger.expiresAt === undefined && (ledger.firstSkipped === undefined || seq < ledger.firstSkipped)) ledger.firstSkipped = seq;
    if (ledger.units === 0 && ledger.expiresAt !== undefined) this.ledgers.delete(studyId);
    return true;
  }

  /**
   * Drops a study's units (every study's without an argument): a study created again (its old
   * changes left Orthanc's log with it), a log that went backwards. A study whose work runs cannot
   * just lose them (they may stand for changes others' took): it is checked again after its work.
   */
  forget(studyId?: string): void {
    for (const id of studyId === undefined ? [...this.ledgers.keys()] : [studyId]) {
      const ledger = this.ledgers.get(id);
      if (!ledger) continue;
      if (ledger.expiresAt !== undefined) this.ledgers.delete(id);
      else {
        ledger.units = 0;
        ledger.dirty = true;
      }
    }
  }

  /** Drops leftover units whose time is up (bounded memory). */
  expire(): void {
    const now = this.now();
    for (const [id, ledger] of this.ledgers) if (ledger.expiresAt !== undefined && ledger.expiresAt <= now) this.ledgers.delete(id);
  }

  /**
   * The client the study's work uses: its compare-and-set metadata writes on this study are counted.
   * Other writes (setStudyMetadata, deletes, other studies) are not: their changes are checked as before.
   */
  track(client: OrthancClient, studyId: string): OrthancClient {
    const replace = async (id: string, name: string, value: string, ifMatch: string | undefined): Promise<boolean> => {
      const ledger = id === studyId ? this.ledgers.get(studyId) : undefined;
      if (!ledger || ledger.expiresAt !== undefined) return client.replaceStudyMetadata(id, name, value, ifMatch);
      ledger.units++;
      let landed = false;
      try {
        landed = await client.replaceStudyMetadata(id, name, value, ifMatch);
        return landed;
      } finally {
        if (!landed) {
          // Lost (409: no change of ours), or failed in a way that may or may not have landed.
          ledger.units = 0;
          ledger.dirty = true;
        }
      }
    };
    return new Proxy(client, {
      get(target, property) {
        if (property === 'replaceStudyMetadata') return replace;
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** Studies with a ledger (for tests). */
  get size(): number {
    return this.ledgers.size;
  }
}
