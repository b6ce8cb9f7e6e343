// The progress reports' thinning: the first report, at most one per study per interval, always the
// last one, nothing stale after the run ended, and each study on its own.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProgressThrottle, SidecarEvents, type ProgressEvent } from '../../src/sidecar/events.js';

function report(studyId: string, done: number, total = 100): ProgressEvent {
  return { kind: 'progress', studyId, at: new Date().toISOString(), approach: 'private', done, total };
}

describe('ProgressThrottle', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends the first report, holds the rest of the interval, and sends the latest when it ends', () => {
    const sent: string[] = [];
    const throttle = new ProgressThrottle((e) => sent.push(`${e.studyId} ${e.done}`), 500, () => Date.now());
    for (let done = 0; done < 10; done++) {
      throttle.accept(report('a', done));
      vi.advanceTimersByTime(40);
    }
    // 0..9 within 400 ms: only the first went out; the latest (9) waits for the interval's end.
    expect(sent).toEqual(['a 0']);
    vi.advanceTimersByTime(100);
    expect(sent).toEqual(['a 0', 'a 9']);
    vi.advanceTimersByTime(5_000);
    expect(sent).toEqual(['a 0', 'a 9']);
  });

  it('passes at most one report per study per interval over a long run, and the last one at once', () => {
    const sent: ProgressEvent[] = [];
    const sentAt: number[] = [];
    const throttle = new ProgressThrottle(
      (e) => {
        sent.push(e);
        sentAt.push(Date.now());
      },
      500,
      () => Date.now(),
    );
    // 300 images, one every 10 ms: 3 s of work.
    for (let done = 0; done <= 300; done++) {
      throttle.accept(report('a', done, 300));
      vi.advanceTimersByTime(10);
    }
    expect(sent.at(-1)?.done).toBe(300);
    expect(sent.length).toBeGreaterThanOrEqual(6);
    expect(sent.length).toBeLessThanOrEqual(8);
    const times = sentAt.slice(0, -1);
    for (let i = 1; i < times.length; i++) expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(500);
    // Counts only go up: a held report never lands after a newer one.
    expect(sent.map((e) => e.done)).toEqual([...sent.map((e) => e.done)].sort((x, y) => x - y));
  });

  it('throttles each study on its own', () => {
    const sent: string[] = [];
    const throttle = new ProgressThrottle((e) => sent.push(`${e.studyId} ${e.done}`), 500, () => Date.now());
    throttle.accept(report('a', 1));
    throttle.accept(report('b', 1));
    throttle.accept(report('a', 2));
    throttle.accept(report('b', 2));
    expect(sent).toEqual(['a 1', 'b 1']);
    vi.advanceTimersByTime(500);
    expect(sent).toEqual(['a 1', 'b 1', 'a 2', 'b 2']);
  });

  it('drops a held report when the study run ends, and starts afresh on the next run', () => {
    const sent: string[] = [];
    const throttle = new ProgressThrottle((e) => sent.push(`${e.studyId} ${e.done}`), 500, () => Date.now());
    throttle.accept(report('a', 1));
    throttle.accept(report('a', 2));
    throttle.end('a');
    vi.advanceTimersByTime(1_000);
    expect(sent).toEqual(['a 1']);
    throttle.accept(report('a', 0));
    expect(sent).toEqual(['a 1', 'a 0']);
  });
});

describe('SidecarEvents progress', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('publishes thinned progress apart from the state changes, and nothing held after done', () => {
    const events = new SidecarEvents();
    const progress: number[] = [];
    const changes: string[] = [];
    events.subscribeProgress((e) => progress.push(e.done));
    events.subscribeChanges((e) => changes.push(e.kind));
    const at = new Date().toISOString();
    events.emit({ kind: 'processing', studyId: 's', at });
    for (let done = 0; done < 50; done++) events.progress(report('s', done));
    events.emit({ kind: 'done', studyId: 's', at });
    vi.advanceTimersByTime(1_000);
    expect(progress).toEqual([0]);
    expect(changes).toEqual(['processing', 'done']);
  });
});
