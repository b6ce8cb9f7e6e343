// The WebSocket's filter: the raw events of one mark, as the sidecar really emits them, become one
// event per state change. Named cases, each a sequence seen in a real run (issue 18).
import { describe, expect, it } from 'vitest';
import { SidecarEvents, StateChanges, type StudyEvent, type StudyEventKind } from '../../src/sidecar/events.js';

const ev = (kind: StudyEventKind, studyId = 'a'): StudyEvent => ({ kind, studyId, at: '2026-01-01T00:00:00Z' });
const through = (kinds: readonly StudyEventKind[], filter = new StateChanges()): StudyEventKind[] => kinds.flatMap((k) => filter.accept(ev(k)).map((e) => e.kind));

describe('one event per state change', () => {
  it('a mark reached through the API, the hook and the feed, then its own status writes coming back', () => {
    const raw: StudyEventKind[] = ['queued', 'queued', 'queued', 'processing', 'done', 'queued', 'skipped', 'queued', 'skipped', 'queued', 'queued', 'skipped'];
    expect(through(raw)).toEqual(['queued', 'processing', 'done']);
  });

  it('a retry of a done study: queued is held back until processing shows it was real', () => {
    expect(through(['queued', 'processing', 'done', 'queued', 'processing', 'done'])).toEqual(['queued', 'processing', 'done', 'queued', 'processing', 'done']);
  });

  it('a transient fault: retrying, queued again, then done', () => {
    expect(through(['queued', 'processing', 'retrying', 'queued', 'queued', 'processing', 'done'])).toEqual(['queued', 'processing', 'retrying', 'queued', 'processing', 'done']);
  });

  it('a study whose own uploads come back through the feed while it is processed (private copies)', () => {
    // Seen in test/dashboard/progress.test.ts: queued, processing, queued, done, skipped reached the page.
    expect(through(['queued', 'processing', 'queued', 'queued', 'done', 'queued', 'skipped'])).toEqual(['queued', 'processing', 'done']);
  });

  it('own uploads looked at while the study is processed, the last look after done', () => {
    expect(through(['queued', 'processing', 'queued', 'queued', 'skipped', 'done', 'skipped'])).toEqual(['queued', 'processing', 'done']);
  });

  it('a new mark while processing: done, then queued and processing again', () => {
    expect(through(['queued', 'processing', 'queued', 'done', 'processing', 'done'])).toEqual(['queued', 'processing', 'done', 'queued', 'processing', 'done']);
  });

  it('a study without a mark: looked at once (queued, skipped), then silent', () => {
    expect(through(['queued', 'skipped', 'queued', 'skipped', 'queued', 'skipped'])).toEqual(['queued', 'skipped']);
  });

  it('invalid measurements on a done study fail at once, without processing', () => {
    expect(through(['queued', 'processing', 'done', 'queued', 'failed'])).toEqual(['queued', 'processing', 'done', 'queued', 'failed']);
  });

  it('keeps studies apart and forgets the oldest beyond its limit', () => {
    const filter = new StateChanges(2);
    const out = ['a', 'b', 'c', 'a'].flatMap((id) => filter.accept(ev('queued', id)).map((e) => e.studyId));
    // "a" was forgotten when "c" came, so its next queued passes again.
    expect(out).toEqual(['a', 'b', 'c', 'a']);
  });

  it('SidecarEvents gives listeners of changes the filtered stream and other listeners every event', () => {
    const events = new SidecarEvents();
    const [raw, changes]: [string[], string[]] = [[], []];
    events.subscribe((e) => raw.push(e.kind));
    events.subscribeChanges((e) => changes.push(e.kind));
    for (const k of ['queued', 'queued', 'processing', 'done', 'queued', 'skipped'] as const) events.emit(ev(k));
    expect(raw).toHaveLength(6);
    expect(changes).toEqual(['queued', 'processing', 'done']);
  });
});
