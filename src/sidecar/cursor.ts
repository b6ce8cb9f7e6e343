/** The durable position in Orthanc's changes log, kept in KV_STATE_DIR so a restart goes on where it stopped. */
import { readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';

/** What the cursor file holds. */
export interface CursorState {
  /** The last change sequence number fully handled. */
  readonly seq: number;
  /** Orthanc's database identity when known, to notice a database that was replaced. */
  readonly updatedAt: string;
}

/** Reads and writes the cursor file atomically (write, fsync, rename). */
export class CursorStore {
  private readonly path: string;

  constructor(stateDir: string) {
    // Not created here: the sidecar checked at start that KV_STATE_DIR exists and is writable.
    this.path = join(stateDir, 'cursor.json');
  }

  /** The saved cursor, or undefined on a first start. A corrupt file is an error naming the file. */
  load(): CursorState | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const parsed = JSON.parse(text) as Partial<CursorState>;
    if (typeof parsed.seq !== 'number' || !Number.isInteger(parsed.seq) || parsed.seq < 0) {
      throw new Error(`${this.path} does not hold a valid cursor (got ${text.slice(0, 100)}); delete it to start at Orthanc's current head`);
    }
    return { seq: parsed.seq, updatedAt: String(parsed.updatedAt ?? '') };
  }

  /** Saves the cursor so that a crash at any moment leaves either the old or the new one. */
  save(seq: number, now: Date): void {
    const temporary = `${this.path}.tmp`;
    writeFileSync(temporary, JSON.stringify({ seq, updatedAt: now.toISOString() }));
    const fd = openSync(temporary, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.path);
  }
}
