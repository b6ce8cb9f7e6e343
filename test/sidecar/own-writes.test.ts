// The feed skips the changes the sidecar's own metadata writes cause (issue 17), by count
// (src/sidecar/own-writes.ts). What must never happen is a person's write being skipped in their
// place and the study left unchecked. A property test plays any interleaving of our writes (landed,
// lost, failed), a person's writes, the feed's reads and the ends of the work against a model of
// Orthanc's log; the real sidecar meets a corrected mark written while its own FHIR write is held.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMeasurementsObject } from '../../src/measurements/parse.js';
import { OrthancClient } from '../../src/orthanc/client.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { OwnWrites, UNIT_LIFETIME_MS } from '../../src/sidecar/own-writes.js';
import { StudyQueue } from '../../src/sidecar/queue.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { startGateProxy, type GateProxy } from '../helpers/gate-proxy.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { startSidecar, waitForState, type TestSidecar } from './harness.js';

/** One step of the model: what happens next, anywhere. */
type Step =
  | { readonly kind: 'begin' }
  | { readonly kind: 'send' }
  /** Orthanc applies the PUT in flight (or one whose client gave up): one change logged, or a 409. */
  | { readonly kind: 'apply'; readonly landed: boolean }
  /** The client hears: Orthanc's answer once applied, or a reset or timeout at any time. */
  | { readonly kind: 'answer'; readonly reset: boolean }
  | { readonly kind: 'person' }
  | { readonly kind: 'read'; readonly count: number }
  | { readonly kind: 'end' }
  | { readonly kind: 'wait' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.constant<Step>({ kind: 'begin' }),
  fc.constant<Step>({ kind: 'send' }),
  fc.boolean().map((landed): Step => ({ kind: 'apply', landed })),
  fc.boolean().map((reset): Step => ({ kind: 'answer', reset })),
  fc.constant<Step>({ kind: 'person' }),
  fc.integer({ min: 1, max: 3 }).map((count): Step => ({ kind: 'read', count })),
  fc.constant<Step>({ kind: 'end' }),
  fc.constant<Step>({ kind: 'wait' }),
);

/**
 * Plays the steps for one study and answers the person's writes that no check covers: a work
 * covers every write logged before it begins (it reads the metadata first). The feed reads the log
 * in order; a change taken by the ledger is skipped, any other asks for a check, and only such a
 * request (or the first mark) starts a work. Our PUT is sent, applied by Orthanc (one change, or a
 * 409) and answered, in any order with the feed's reads; a reset may come before or after it was
 * applied, and one before may still be applied later. Leftover units expire with the clock ('wait').
 * Each step runs after the microtasks of the one before, as the event loop runs them.
 */
async function play(steps: readonly Step[]): Promise<number[]> {
  let clock = 0;
  const writes = new OwnWrites(() => clock);
  const queue = new StudyQueue();
  const log: { seq: number; person: boolean }[] = [];
  let read = 0;
  let working = false;
  let begun = false;
  let inFlight: { resolve: (landed: boolean) => void; reject: (error: Error) => void; applied?: boolean } | undefined;
  /** PUTs whose client gave up before Orthanc applied them: each may still land. */
  let ghosts = 0;
  let checkWanted = false;
  let checkedUpTo = 0;
  // A client whose only method is the compare-and-set the ledger counts; the test decides each answer.
  const fake = {
    replaceStudyMetadata: () =>
      new Promise<boolean>((resolve, reject) => {
        inFlight = { resolve, reject };
      }),
  } as unknown as OrthancClient;
  const tracked = writes.track(fake, 'S');
  const readOne = (): void => {
    const change = log[read++]!;
    if (writes.take('S', change.seq)) queue.hold('S', change.seq);
    else checkWanted = true;
  };
  for (const s of steps) {
    switch (s.kind) {
      case 'begin':
        if (working || (begun && !checkWanted)) break;
        working = true;
        begun = true;
        checkWanted = false;
        queue.add('S');
        queue.take();
        writes.begin('S');
        checkedUpTo = log.length;
        break;
      case 'send':
        if (!working || inFlight) break;
        void tracked.replaceStudyMetadata('S', 'x', 'v', undefined).catch(() => undefined);
        break;
      case 'apply':
        // The request in flight, or one whose client heard a reset but which Orthanc still holds.
        if (inFlight && inFlight.applied === undefined) {
          inFlight.applied = s.landed;
          if (s.landed) log.push({ seq: log.length + 1, person: false });
        } else if (ghosts > 0 && s.landed) {
          ghosts--;
          log.push({ seq: log.length + 1, person: false });
        }
        break;
      case 'answer': {
        if (!inFlight || (!s.reset && inFlight.applied === undefined)) break;
        const answer = inFlight;
        inFlight = undefined;
        if (s.reset) {
          if (answer.applied === undefined) ghosts++;
          answer.reject(new Error('connection reset'));
        } else answer.resolve(answer.applied === true);
        break;
      }
      case 'person':
        log.push({ seq: log.length + 1, person: true });
        break;
      case 'read':
        for (let i = 0; i < s.count && read < log.length; i++) readOne();
        break;
      case 'end':
        if (!working || inFlight) break;
        if (writes.settle('S').checkAgain) checkWanted = true;
        queue.done('S');
        working = false;
        break;
      case 'wait':
        clock += UNIT_LIFETIME_MS;
        writes.expire();
        break;
    }
    await new Promise((r) => setImmediate(r));
  }
  // The end of time: the write in flight lands and is answered, the work ends, the feed reads everything, a wanted check runs.
  if (inFlight) {
    if (inFlight.applied === undefined) log.push({ seq: log.length + 1, person: false });
    inFlight.resolve(inFlight.applied ?? true);
    await new Promise((r) => setImmediate(r));
  }
  if (working && writes.settle('S').checkAgain) checkWanted = true;
  while (read < log.length) readOne();
  if (checkWanted) checkedUpTo = log.length;
  return log.filter((c, i) => c.person && i >= checkedUpTo).map((c) => c.seq);
}

describe('the count of our own writes', () => {
  it('property: no interleaving leaves a person\'s write unchecked', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 6, maxLength: 16 }), async (steps) => {
        expect(await play(steps)).toEqual([]);
      }),
      { seed: 1717, numRuns: 8000 },
    );
  });

  // Named cases: each is the shortest interleaving that an unsafe variant of the ledger gets wrong.
  const cases: Record<string, Step[]> = {
    // Counting every change of a study in work as ours skips the mark outright.
    "a person's change with no write of ours in flight is checked": [{ kind: 'begin' }, { kind: 'person' }, { kind: 'read', count: 1 }],
    // A 409 is no change: the mark that took its unit would never be compensated.
    "a lost write after a person's change took its unit asks for a check": [
      { kind: 'begin' }, { kind: 'person' }, { kind: 'send' }, { kind: 'read', count: 1 }, { kind: 'apply', landed: false }, { kind: 'answer', reset: false }, { kind: 'end' },
    ],
    // Counted only once answered, our change read before the answer leaves a unit that nothing of
    // ours will take: a mark written after the next check began would take it.
    'a unit is counted before its PUT is sent, not when it is answered': [
      { kind: 'begin' }, { kind: 'send' }, { kind: 'apply', landed: true }, { kind: 'read', count: 1 }, { kind: 'answer', reset: false },
      { kind: 'end' }, { kind: 'begin' }, { kind: 'person' }, { kind: 'read', count: 1 },
    ],
  };
  for (const [name, steps] of Object.entries(cases)) {
    it(name, async () => {
      expect(await play(steps)).toEqual([]);
    });
  }

  it('a write that lost its compare-and-set asks for a check from the first change skipped', async () => {
    const writes = new OwnWrites();
    writes.begin('S');
    const fake = { replaceStudyMetadata: async () => false } as unknown as OrthancClient;
    const person = { replaceStudyMetadata: async () => true } as unknown as OrthancClient;
    await writes.track(person, 'S').replaceStudyMetadata('S', 'x', 'v', undefined);
    // A person's change, read before ours: it takes our unit.
    expect(writes.take('S', 7)).toBe(true);
    await writes.track(fake, 'S').replaceStudyMetadata('S', 'x', 'v', undefined);
    expect(writes.settle('S')).toEqual({ checkAgain: true, seq: 7 });
    expect(writes.size).toBe(0);
  });

  it('counts only compare-and-set writes on the study in work, and units expire', async () => {
    let clock = 0;
    const writes = new OwnWrites(() => clock);
    const ok = { replaceStudyMetadata: async () => true } as unknown as OrthancClient;
    await writes.track(ok, 'S').replaceStudyMetadata('S', 'x', 'v', undefined);
    expect(writes.take('S', 1)).toBe(false);
    writes.begin('S');
    await writes.track(ok, 'S').replaceStudyMetadata('OTHER', 'x', 'v', undefined);
    expect(writes.take('OTHER', 2)).toBe(false);
    await writes.track(ok, 'S').replaceStudyMetadata('S', 'x', 'v', undefined);
    expect(writes.settle('S')).toEqual({ checkAgain: false, seq: undefined });
    clock += UNIT_LIFETIME_MS;
    expect(writes.take('S', 3)).toBe(false);
    expect(writes.size).toBe(0);
  });
});

describe('through the real sidecar and Orthanc', () => {
  const orthanc = useOrthanc();
  let proxy: GateProxy;
  let sidecar: TestSidecar | undefined;
  beforeAll(async () => {
    proxy = await startGateProxy(orthanc.url);
  });
  afterAll(async () => {
    await sidecar?.stop();
    await proxy?.close();
  });

  it('what the count rests on: each compare-and-set PUT that lands logs exactly one UpdatedMetadata change of the study (an unchanged value too), a 409 none', async () => {
    const { client } = orthanc;
    const study = await uploadStudy(client, ctStudy(1));
    const head = await client.lastChangeSeq();
    expect(await client.replaceStudyMetadata(study.orthancId, METADATA.status, 'one', undefined)).toBe(true);
    const first = await client.studyMetadata(study.orthancId, METADATA.status);
    expect(await client.replaceStudyMetadata(study.orthancId, METADATA.status, 'one', first?.etag)).toBe(true);
    // A 409: a create over an existing value.
    expect(await client.replaceStudyMetadata(study.orthancId, METADATA.status, 'two', undefined)).toBe(false);
    expect(await client.replaceStudyMetadata(study.orthancId, METADATA.fhir, 'x', undefined)).toBe(true);
    const changes = (await client.changes(head, 100)).Changes.filter((c) => c.ID === study.orthancId);
    expect(changes.map((c) => `${c.ResourceType} ${c.ChangeType}`)).toEqual(Array(3).fill('Study UpdatedMetadata'));
  });

  it('a corrected mark written while the sidecar\'s own FHIR write is held is processed after it', async () => {
    const client = new OrthancClient({ url: proxy.url, username: orthanc.username, password: orthanc.password, retries: 0 });
    sidecar = startSidecar(client, { processor: { approaches: ['sr', 'fhir'] } });
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    // Let the sidecar read past the upload's changes first.
    await new Promise((r) => setTimeout(r, 500));
    const hold = proxy.hold((r) => r.method === 'PUT' && r.path.endsWith(`/metadata/${METADATA.fhir}`));
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, JSON.stringify({ 'Right Kidney': '125 ml' }));
    await hold.arrived(1, 30_000);
    // The correction, written past the proxy while our FHIR write waits: the feed (100 ms) reads its
    // change while that write's unit is counted, so the change takes the unit and is skipped.
    const corrected = { 'Right Kidney': '130 ml' };
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, JSON.stringify(corrected));
    await new Promise((r) => setTimeout(r, 600));
    hold.release();
    // Our FHIR write's own change then finds no unit: the study is checked again and the correction processed.
    const digest = parseMeasurementsObject(corrected).digest;
    const deadline = Date.now() + 30_000;
    let status = await waitForState(orthanc.client, study.orthancId, ['done', 'failed']);
    while (!(status.state === 'done' && status.digest === digest) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      status = await waitForState(orthanc.client, study.orthancId, ['done', 'failed']);
    }
    expect(status.state).toBe('done');
    expect(status.digest).toBe(digest);
    expect(status.history?.map((v) => v.values)).toEqual(['Right Kidney 125 mL', 'Right Kidney 130 mL']);
  }, 60_000);
});
