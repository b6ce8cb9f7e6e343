// The dashboard's study index (SQLite in KV_STATE_DIR): what a page of the list holds for a given
// filter and search, and what happens to a file that is not a usable index.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { INDEX_FILE, StudyIndex } from '../../src/index/store.js';
import { fakeRow } from './rows.js';

const folders: string[] = [];
afterEach(() => {
  for (const f of folders.splice(0)) rmSync(f, { recursive: true, force: true });
});
function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kv-index-'));
  folders.push(dir);
  return dir;
}

function filled(count: number): StudyIndex {
  const index = StudyIndex.inMemory();
  index.upsertMany(Array.from({ length: count }, (_, n) => fakeRow(n)));
  return index;
}

describe('the studies list', () => {
  it('lists newest change first, 50 to a page, with the total and per-state counts', () => {
    const index = filled(120);
    const first = index.list({});
    expect(first.rows).toHaveLength(50);
    expect(first.total).toBe(120);
    expect(first.rows[0]?.patientId).toBe('PID0000119');
    expect(first.rows.map((r) => r.updatedAt)).toEqual([...first.rows.map((r) => r.updatedAt)].sort().reverse());
    const third = index.list({ page: 3 });
    expect(third.rows.map((r) => r.patientId)).toEqual(Array.from({ length: 20 }, (_, i) => `PID${String(19 - i).padStart(7, '0')}`));
    expect(first.counts).toEqual({ queued: 24, processing: 24, done: 24, failed: 24, deleted: 24 });
  });

  it("writes a study's status or its own fields alone, keeping the other part, the earliest mark time and the search in step", () => {
    const index = StudyIndex.inMemory();
    const row = fakeRow(2, { state: 'queued', markedAt: '2024-01-01T00:02:00.000Z', digest: 'd1' });
    index.upsert(row);
    const { studyId, studyInstanceUid, patientName, patientId, accession, studyDate, modalities, ...status } = row;
    const done = { ...status, state: 'done' as const, updatedAt: '2024-01-02T00:00:00.000Z', markedAt: '2024-01-01T00:05:00.000Z', finishedAt: '2024-01-02T00:00:00.000Z', owner: 'replica-a' };
    expect(index.updateStatus(studyId, done)).toBe(true);
    // The same measurements keep the earlier mark time; the study's own fields stay.
    expect(index.get(studyId)).toEqual({ ...row, ...done, markedAt: '2024-01-01T00:02:00.000Z' });
    expect(index.counts()).toMatchObject({ queued: 0, done: 1 });
    // Other measurements: their own mark time.
    index.updateStatus(studyId, { ...done, state: 'queued', digest: 'd2', markedAt: '2024-01-03T00:00:00.000Z' });
    expect(index.get(studyId)?.markedAt).toBe('2024-01-03T00:00:00.000Z');

    expect(index.updateStudyFields(studyId, { studyInstanceUid, patientName: 'Renamed Patient', patientId, accession, studyDate, modalities: 'CT\\SR' })).toBe(true);
    expect(index.get(studyId)).toMatchObject({ patientName: 'Renamed Patient', modalities: 'CT\\SR', state: 'queued', owner: 'replica-a', digest: 'd2' });
    expect(index.list({ search: 'renamed' }).rows.map((r) => r.studyId)).toEqual([studyId]);
    expect(index.list({ search: patientName.toLowerCase() }).rows).toEqual([]);

    // A study the index does not list is not added by either.
    const other = fakeRow(3);
    expect(index.updateStatus(other.studyId, done)).toBe(false);
    expect(index.updateStudyFields(other.studyId, { studyInstanceUid, patientName, patientId, accession, studyDate, modalities })).toBe(false);
    expect(index.list({}).total).toBe(1);
  });

  it('filters by one or several states', () => {
    const index = filled(50);
    expect(index.list({ states: ['failed'] }).rows.every((r) => r.state === 'failed')).toBe(true);
    expect(index.list({ states: ['failed'] }).total).toBe(10);
    expect(index.list({ states: ['done', 'failed'] }).total).toBe(20);
  });

  it('finds a study by patient name, patient ID, accession or StudyInstanceUID, ignoring case', () => {
    const index = filled(50);
    expect(index.list({ search: 'müller anna 42' }).rows.map((r) => r.patientId)).toEqual(['PID0000042']);
    expect(index.list({ search: 'pid0000017' }).rows.map((r) => r.patientId)).toEqual(['PID0000017']);
    expect(index.list({ search: 'ACC00000133' }).rows.map((r) => r.patientId)).toEqual(['PID0000019']);
    expect(index.list({ search: '1.2.826.0.1.3680043.10.33' }).rows.map((r) => r.patientId)).toEqual(['PID0000033']);
    expect(index.list({ search: 'nobody' }).total).toBe(0);
  });

  it('treats % and _ in a search as the characters, not as wildcards', () => {
    const index = filled(10);
    expect(index.list({ search: '%' }).total).toBe(0);
    expect(index.list({ search: '_' }).total).toBe(0);
    index.upsert(fakeRow(99, { patientName: 'Under_Score 100%' }));
    expect(index.list({ search: 'under_score 100%' }).rows.map((r) => r.patientName)).toEqual(['Under_Score 100%']);
  });

  it('does not match across two fields', () => {
    const index = StudyIndex.inMemory();
    index.upsert(fakeRow(1, { patientName: 'Doe', patientId: 'Jane' }));
    expect(index.list({ search: 'doejane' }).total).toBe(0);
  });

  it('clamps a page size past 200 and a page below 1', () => {
    const index = filled(300);
    expect(index.list({ pageSize: 10_000 }).rows).toHaveLength(200);
    expect(index.list({ page: -3 }).page).toBe(1);
  });

  it('keeps the first mark time of the same measurements, and takes a new one for new measurements', () => {
    const index = StudyIndex.inMemory();
    index.upsert(fakeRow(1, { markedAt: '2024-01-01T10:00:00.000Z' }));
    index.upsert(fakeRow(1, { markedAt: '2024-01-01T10:05:00.000Z', state: 'done' }));
    expect(index.get(fakeRow(1).studyId)?.markedAt).toBe('2024-01-01T10:00:00.000Z');
    index.upsert(fakeRow(1, { markedAt: '2024-01-02T08:00:00.000Z', digest: 'another' }));
    expect(index.get(fakeRow(1).studyId)?.markedAt).toBe('2024-01-02T08:00:00.000Z');
  });

  it('keeps a deleted study as deleted', () => {
    const index = filled(3);
    const id = fakeRow(2).studyId;
    expect(index.markDeleted(id, new Date('2025-01-01T00:00:00Z'))).toBe(true);
    expect(index.get(id)?.state).toBe('deleted');
    expect(index.list({ states: ['deleted'] }).rows.map((r) => r.studyId)).toContain(id);
    // fakeRow(2) was done: the per-state counts move with it, and with a removal.
    expect(index.counts()).toEqual({ queued: 1, processing: 1, done: 0, failed: 0, deleted: 1 });
    index.remove(fakeRow(0).studyId);
    expect(index.counts()).toEqual({ queued: 0, processing: 1, done: 0, failed: 0, deleted: 1 });
  });
});

describe('the index file', () => {
  it('is created on a first start, and reopened with its rows and cursor', () => {
    const dir = stateDir();
    const index = StudyIndex.open(dir);
    expect(index.openedAs).toBe('created');
    expect(index.cursor).toBeUndefined();
    index.upsert(fakeRow(1));
    index.setCursor(42);
    index.close();
    const again = StudyIndex.open(dir);
    expect(again.openedAs).toBe('existing');
    expect(again.cursor).toBe(42);
    expect(again.list({}).total).toBe(1);
    again.close();
  });

  it('is replaced when corrupt, and the corrupt file is kept aside, not deleted', () => {
    const dir = stateDir();
    writeFileSync(join(dir, INDEX_FILE), 'this is not an SQLite database, it is what a full disk left behind');
    const index = StudyIndex.open(dir, () => new Date('2025-02-03T04:05:06Z'));
    expect(index.openedAs).toBe('replaced-corrupt');
    expect(index.cursor).toBeUndefined();
    expect(index.list({}).total).toBe(0);
    expect(readdirSync(dir)).toContain(`${INDEX_FILE}.corrupt-2025-02-03T04-05-06-000Z`);
    index.close();
  });

  it('is replaced when a cut-off copy leaves a truncated database', () => {
    const dir = stateDir();
    const index = StudyIndex.open(dir);
    index.upsertMany(Array.from({ length: 2000 }, (_, n) => fakeRow(n)));
    index.close();
    const path = join(dir, INDEX_FILE);
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const reopened = StudyIndex.open(dir);
    expect(reopened.openedAs).toBe('replaced-corrupt');
    expect(existsSync(path)).toBe(true);
    reopened.close();
  });
});
