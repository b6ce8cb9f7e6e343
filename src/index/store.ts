/**
 * The dashboard's study index: an SQLite file (better-sqlite3) in KV_STATE_DIR, so a page of the
 * studies list is one indexed query instead of reading every study's metadata from Orthanc.
 * It is a cache: Orthanc's metadata stays the truth, and a missing or corrupt file is rebuilt.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ROW_STATES, type RowState, type StatusFields, type StudyFields, type StudyRow } from './row.js';

/** Bumped when the schema changes: an index of another version is rebuilt, never migrated (it is a cache). */
const SCHEMA_VERSION = '3';
/** The index's file name inside KV_STATE_DIR. */
export const INDEX_FILE = 'studies-index.sqlite';

/** What a page of the list asks for. */
export interface ListQuery {
  /** Only studies in these states; all when empty. */
  readonly states?: readonly RowState[];
  /** Matches patient name, patient ID, accession or StudyInstanceUID (case-insensitive substring). */
  readonly search?: string;
  /** 1-based. */
  readonly page?: number;
  readonly pageSize?: number;
}

/** A page of the list, newest change first. */
export interface ListPage {
  readonly rows: readonly StudyRow[];
  readonly total: number;
  readonly page: number;
  readonly pageSize: number;
  /** Studies per state over the whole index, for the filter buttons. */
  readonly counts: Readonly<Record<RowState, number>>;
}

/** One replica as the index saw it in the statuses it wrote. */
export interface ReplicaSeen {
  readonly name: string;
  readonly lastSeen: string;
}

/** Largest page served; a bigger request is clamped, not refused. */
export const MAX_PAGE_SIZE = 200;

/** How the index file was found when opened. */
export type OpenedAs = 'existing' | 'created' | 'replaced-corrupt' | 'replaced-old-schema';

const COLUMNS = [
  'study_id',
  'study_uid',
  'patient_name',
  'patient_id',
  'accession',
  'study_date',
  'modalities',
  'state',
  'attempts',
  'error',
  'next_attempt_at',
  'updated_at',
  'marked_at',
  'finished_at',
  'owner',
  'digest',
] as const;

interface DbRow {
  study_id: string;
  study_uid: string;
  patient_name: string;
  patient_id: string;
  accession: string;
  study_date: string;
  modalities: string;
  state: RowState;
  attempts: number;
  error: string;
  next_attempt_at: string;
  updated_at: string;
  marked_at: string;
  finished_at: string;
  owner: string;
  digest: string;
}

/** The index file and its queries. */
export class StudyIndex {
  private readonly db: Database.Database;
  /** Prepared statements by their SQL: preparing one on every call cost the index half its CPU (issue 17). */
  private readonly statements = new Map<string, Database.Statement>();
  /** How the file was found; anything but `existing` means it must be filled from Orthanc. */
  readonly openedAs: OpenedAs;

  private constructor(db: Database.Database, openedAs: OpenedAs) {
    this.db = db;
    this.openedAs = openedAs;
  }

  /**
   * Opens (or creates) the index in stateDir. A file that is not a readable index of this schema
   * is moved aside (never deleted: an admin may want to look at it) and a new one is made.
   */
  static open(stateDir: string, clock: () => Date = () => new Date()): StudyIndex {
    mkdirSync(stateDir, { recursive: true });
    const path = join(stateDir, INDEX_FILE);
    const existed = existsSync(path);
    if (existed) {
      const problem = checkFile(path);
      if (problem === undefined) return new StudyIndex(openDb(path), 'existing');
      renameSync(path, `${path}.${problem}-${clock().toISOString().replace(/[:.]/g, '-')}`);
      for (const suffix of ['-wal', '-shm']) if (existsSync(path + suffix)) renameSync(path + suffix, `${path}.${problem}${suffix}`);
      const db = openDb(path);
      createSchema(db);
      return new StudyIndex(db, problem === 'corrupt' ? 'replaced-corrupt' : 'replaced-old-schema');
    }
    const db = openDb(path);
    createSchema(db);
    return new StudyIndex(db, 'created');
  }

  /** Opens an index in memory (tests, benchmarks). */
  static inMemory(): StudyIndex {
    const db = new Database(':memory:');
    createSchema(db);
    return new StudyIndex(db, 'created');
  }

  /** Adds or replaces a study's row; the mark time of the same measurements is kept from the first sighting. */
  upsert(row: StudyRow): void {
    this.upsertStatement().run(toDb(row));
  }

  /**
   * Runs `writes` in one transaction: the feed's writes for one page of changes commit once
   * instead of once per study (each commit was a write to the WAL; issue 17).
   */
  batch(writes: () => void): void {
    this.db.transaction(writes)();
  }

  /** Upserts many rows in one transaction (a rebuild, the benchmark). */
  upsertMany(rows: readonly StudyRow[]): void {
    const statement = this.upsertStatement();
    this.db.transaction((all: readonly StudyRow[]) => {
      for (const row of all) statement.run(toDb(row));
    })(rows);
  }

  /**
   * Writes a listed study's status fields only, leaving its study fields as they are (a status
   * write does not change the study's instances, so the feed does not read them again; issue 17).
   * The mark time of the same measurements is kept, as in upsert. Answers false when the study is
   * not listed.
   */
  updateStatus(studyId: string, status: StatusFields): boolean {
    const sql =
      'UPDATE studies SET state = @state, attempts = @attempts, error = @error, next_attempt_at = @next_attempt_at, updated_at = @updated_at, ' +
      'marked_at = CASE WHEN digest = @digest THEN min(marked_at, @marked_at) ELSE @marked_at END, finished_at = @finished_at, owner = @owner, digest = @digest WHERE study_id = @study_id';
    return (
      this.prepared(sql).run({
        study_id: studyId,
        state: status.state,
        attempts: status.attempts,
        error: status.error,
        next_attempt_at: status.nextAttemptAt,
        updated_at: status.updatedAt,
        marked_at: status.markedAt,
        finished_at: status.finishedAt,
        owner: status.owner,
        digest: status.digest,
      }).changes > 0
    );
  }

  /** Writes a listed study's own fields (main tags, modalities) only, leaving its status; false when the study is not listed. */
  updateStudyFields(studyId: string, fields: StudyFields): boolean {
    const sql = 'UPDATE studies SET study_uid = @study_uid, patient_name = @patient_name, patient_id = @patient_id, accession = @accession, study_date = @study_date, modalities = @modalities, haystack = @haystack WHERE study_id = @study_id';
    return (
      this.prepared(sql).run({
        study_id: studyId,
        study_uid: fields.studyInstanceUid,
        patient_name: fields.patientName,
        patient_id: fields.patientId,
        accession: fields.accession,
        study_date: fields.studyDate,
        modalities: fields.modalities,
        haystack: haystackOf(fields),
      }).changes > 0
    );
  }

  /** Marks a study that Orthanc deleted; its row stays so the admin sees what happened to it. */
  markDeleted(studyId: string, at: Date): boolean {
    const result = this.prepared("UPDATE studies SET state = 'deleted', updated_at = ?, next_attempt_at = '', owner = '' WHERE study_id = ?").run(at.toISOString(), studyId);
    return result.changes > 0;
  }

  /** Orthanc IDs of the studies not yet marked deleted, to find those Orthanc deleted (its log forgets them). */
  liveStudyIds(): string[] {
    return (this.prepared("SELECT study_id FROM studies WHERE state != 'deleted'").all() as { study_id: string }[]).map((r) => r.study_id);
  }

  /** Drops a study that no longer carries any of our marks. */
  remove(studyId: string): boolean {
    return this.prepared('DELETE FROM studies WHERE study_id = ?').run(studyId).changes > 0;
  }

  /** One study's row. */
  get(studyId: string): StudyRow | undefined {
    const row = this.prepared('SELECT * FROM studies WHERE study_id = ?').get(studyId) as DbRow | undefined;
    return row ? fromDb(row) : undefined;
  }

  /** A page of studies, newest change first, filtered by state and searched. */
  list(query: ListQuery = {}): ListPage {
    const pageSize = Math.min(Math.max(1, Math.trunc(query.pageSize ?? 50)), MAX_PAGE_SIZE);
    const page = Math.max(1, Math.trunc(query.page ?? 1));
    const where: string[] = [];
    const params: (string | number)[] = [];
    const states = (query.states ?? []).filter((s) => (ROW_STATES as readonly string[]).includes(s));
    if (states.length > 0) {
      where.push(`state IN (${states.map(() => '?').join(', ')})`);
      params.push(...states);
    }
    const search = searchText(query.search ?? '');
    if ([...search].length >= 3) {
      // The trigram index finds any substring of three characters or more without reading every row.
      where.push('id IN (SELECT rowid FROM studies_fts WHERE studies_fts MATCH ?)');
      params.push(`"${search.replace(/"/g, '""')}"`);
    } else if (search !== '') {
      // Shorter than a trigram: a scan of the lower-cased haystack, slower but still correct.
      where.push("haystack LIKE ? ESCAPE '\\'");
      params.push(`%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const rows = this.prepared(`SELECT * FROM studies ${clause} ORDER BY updated_at DESC, study_id LIMIT ? OFFSET ?`).all(...params, pageSize, (page - 1) * pageSize) as DbRow[];
    const total = (this.prepared(`SELECT count(*) AS n FROM studies ${clause}`).get(...params) as { n: number }).n;
    return { rows: rows.map(fromDb), total, page, pageSize, counts: this.counts() };
  }

  /** Studies per state over the whole index. */
  counts(): Record<RowState, number> {
    const counts = Object.fromEntries(ROW_STATES.map((s) => [s, 0])) as Record<RowState, number>;
    for (const { state, n } of this.prepared('SELECT state, n FROM state_counts').all() as { state: RowState; n: number }[]) if (state in counts) counts[state] = n;
    return counts;
  }

  /** Studies that finished done since `from` (ISO), with their mark and finish times, for the health charts. */
  finishedSince(from: string): { markedAt: string; finishedAt: string }[] {
    return (
      this.prepared("SELECT marked_at, finished_at FROM studies WHERE state = 'done' AND finished_at >= ? ORDER BY finished_at").all(from) as { marked_at: string; finished_at: string }[]
    ).map((r) => ({ markedAt: r.marked_at, finishedAt: r.finished_at }));
  }

  /** Records that a replica wrote a status at `at`. */
  sawReplica(name: string, at: string): void {
    this.prepared('INSERT INTO replicas (name, last_seen) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)').run(name, at);
  }

  /** Replicas seen, most recent first. */
  replicas(): ReplicaSeen[] {
    return (this.prepared('SELECT name, last_seen FROM replicas ORDER BY last_seen DESC').all() as { name: string; last_seen: string }[]).map((r) => ({ name: r.name, lastSeen: r.last_seen }));
  }

  /** The last change of Orthanc's log the index has taken in; undefined before the first fill. */
  get cursor(): number | undefined {
    const value = this.meta('cursor');
    return value === undefined ? undefined : Number(value);
  }

  /** Saves the feed position. */
  setCursor(seq: number): void {
    this.setMeta('cursor', String(seq));
  }

  /** Empties the rows (before a rebuild) and forgets the cursor. */
  clear(): void {
    this.db.exec("DELETE FROM studies; DELETE FROM meta WHERE key = 'cursor';");
  }

  /** Closes the file. */
  close(): void {
    this.db.close();
  }

  private meta(key: string): string | undefined {
    return (this.prepared('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  private setMeta(key: string, value: string): void {
    this.prepared('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /** The prepared statement of `sql`, prepared once. */
  private prepared(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private upsertStatement(): Database.Statement {
    const names = [...COLUMNS, 'haystack'];
    const updates = names.filter((c) => c !== 'study_id' && c !== 'marked_at').map((c) => `${c} = excluded.${c}`);
    // The same measurements keep the earliest mark time any source gave (the feed usually sees the mark first).
    updates.push('marked_at = CASE WHEN studies.digest = excluded.digest THEN min(studies.marked_at, excluded.marked_at) ELSE excluded.marked_at END');
    return this.prepared(`INSERT INTO studies (${names.join(', ')}) VALUES (${names.map((c) => `@${c}`).join(', ')}) ON CONFLICT(study_id) DO UPDATE SET ${updates.join(', ')}`);
  }
}

/**
 * The search as the index compares it: lower case, without control characters, which no field
 * holds (the haystack's field separator is one) and which SQLite would cut the pattern at (NUL).
 */
export function searchText(search: string): string {
  return search.replace(/[\u0000-\u001f\u007f]/g, '').trim().toLowerCase();
}

function openDb(path: string): Database.Database {
  const db = new Database(path);
  // WAL: the list is read while the feed writes, and a crash mid-write leaves the last commit.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  return db;
}

/** Why an existing file cannot be used as it is, or undefined when it can. */
function checkFile(path: string): 'corrupt' | 'old-schema' | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { fileMustExist: true });
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') return 'corrupt';
    const version = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined;
    return version?.value === SCHEMA_VERSION ? undefined : 'old-schema';
  } catch {
    return 'corrupt';
  } finally {
    db?.close();
  }
}

function createSchema(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS studies (
      id INTEGER PRIMARY KEY,
      study_id TEXT NOT NULL UNIQUE,
      study_uid TEXT NOT NULL, patient_name TEXT NOT NULL, patient_id TEXT NOT NULL, accession TEXT NOT NULL,
      study_date TEXT NOT NULL, modalities TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
      error TEXT NOT NULL, next_attempt_at TEXT NOT NULL, updated_at TEXT NOT NULL, marked_at TEXT NOT NULL,
      finished_at TEXT NOT NULL, owner TEXT NOT NULL, digest TEXT NOT NULL, haystack TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS studies_by_change ON studies (updated_at DESC, study_id);
    CREATE INDEX IF NOT EXISTS studies_by_state ON studies (state, updated_at DESC, study_id);
    CREATE INDEX IF NOT EXISTS studies_by_finish ON studies (state, finished_at);
    -- Search: a trigram full-text index over the haystack, kept in step by triggers (SQLite FTS5).
    CREATE VIRTUAL TABLE IF NOT EXISTS studies_fts USING fts5(haystack, content='studies', content_rowid='id', tokenize='trigram');
    CREATE TRIGGER IF NOT EXISTS studies_fts_insert AFTER INSERT ON studies BEGIN
      INSERT INTO studies_fts (rowid, haystack) VALUES (new.id, new.haystack);
    END;
    CREATE TRIGGER IF NOT EXISTS studies_fts_delete AFTER DELETE ON studies BEGIN
      INSERT INTO studies_fts (studies_fts, rowid, haystack) VALUES ('delete', old.id, old.haystack);
    END;
    CREATE TRIGGER IF NOT EXISTS studies_fts_update AFTER UPDATE OF haystack ON studies BEGIN
      INSERT INTO studies_fts (studies_fts, rowid, haystack) VALUES ('delete', old.id, old.haystack);
      INSERT INTO studies_fts (rowid, haystack) VALUES (new.id, new.haystack);
    END;
    -- Studies per state, kept by triggers: the filter buttons show them on every page, and a
    -- GROUP BY over 100,000 rows per page view would cost more than the page itself.
    CREATE TABLE IF NOT EXISTS state_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL);
    CREATE TRIGGER IF NOT EXISTS state_counts_insert AFTER INSERT ON studies BEGIN
      INSERT INTO state_counts (state, n) VALUES (new.state, 1) ON CONFLICT(state) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER IF NOT EXISTS state_counts_delete AFTER DELETE ON studies BEGIN
      UPDATE state_counts SET n = n - 1 WHERE state = old.state;
    END;
    CREATE TRIGGER IF NOT EXISTS state_counts_update AFTER UPDATE OF state ON studies WHEN old.state != new.state BEGIN
      UPDATE state_counts SET n = n - 1 WHERE state = old.state;
      INSERT INTO state_counts (state, n) VALUES (new.state, 1) ON CONFLICT(state) DO UPDATE SET n = n + 1;
    END;
    CREATE TABLE IF NOT EXISTS replicas (name TEXT PRIMARY KEY, last_seen TEXT NOT NULL);
  `);
  db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(SCHEMA_VERSION);
}

function toDb(row: StudyRow): DbRow & { haystack: string } {
  return {
    study_id: row.studyId,
    study_uid: row.studyInstanceUid,
    patient_name: row.patientName,
    patient_id: row.patientId,
    accession: row.accession,
    study_date: row.studyDate,
    modalities: row.modalities,
    state: row.state,
    attempts: row.attempts,
    error: row.error,
    next_attempt_at: row.nextAttemptAt,
    updated_at: row.updatedAt,
    marked_at: row.markedAt,
    finished_at: row.finishedAt,
    owner: row.owner,
    digest: row.digest,
    haystack: haystackOf(row),
  };
}

/** What the search looks in: the searchable fields, lower case. */
function haystackOf(fields: StudyFields): string {
  // A separator no search term contains keeps a match from spanning two fields.
  return [fields.patientName, fields.patientId, fields.accession, fields.studyInstanceUid].join('\u0001').toLowerCase();
}

function fromDb(row: DbRow): StudyRow {
  return {
    studyId: row.study_id,
    studyInstanceUid: row.study_uid,
    patientName: row.patient_name,
    patientId: row.patient_id,
    accession: row.accession,
    studyDate: row.study_date,
    modalities: row.modalities,
    state: row.state,
    attempts: row.attempts,
    error: row.error,
    nextAttemptAt: row.next_attempt_at,
    updatedAt: row.updated_at,
    markedAt: row.marked_at,
    finishedAt: row.finished_at,
    owner: row.owner,
    digest: row.digest,
  };
}
