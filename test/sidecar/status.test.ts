// The status store: its schema against anything a broken client may write (property-based and a
// bounded fuzz against a real Orthanc and the real processor), its transitions, and the version
// counter that keeps Orthanc 1.12's md5 ETags from repeating (ABA).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { METADATA } from '../../src/orthanc/metadata.js';
import { SidecarEvents } from '../../src/sidecar/events.js';
import { processStudy } from '../../src/sidecar/processor.js';
import {
  canMove,
  parseStatusText,
  readStatus,
  STUDY_STATES,
  studyStatusSchema,
  writeFinalStatus,
  writeStatus,
  StatusTransitionError,
  type StudyStatus,
} from '../../src/status/status.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { testProcessor } from './harness.js';

const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const iso = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString());

/** Statuses the sidecar could write. */
const validStatus: fc.Arbitrary<StudyStatus> = fc.record(
  {
    state: fc.constantFrom(...STUDY_STATES),
    digest: hex64,
    measurements: fc.array(fc.record({ name: fc.string(), valueMl: fc.stringMatching(/^\d{1,4}(\.\d{1,3})?$/) }), { maxLength: 3 }),
    attempts: fc.nat(20),
    crashes: fc.nat(20),
    version: fc.nat(1000),
    createdAt: iso,
    updatedAt: iso,
    error: fc.string(),
    nextAttemptAt: iso,
    owner: fc.string(),
  },
  { requiredKeys: ['state', 'digest', 'measurements', 'attempts', 'createdAt', 'updatedAt'] },
);

/** A valid status with one field replaced by anything JSON can hold. */
const brokenStatus = fc
  .tuple(validStatus, fc.constantFrom('state', 'digest', 'measurements', 'attempts', 'createdAt', 'version', 'nextAttemptAt', '__proto__', 'constructor'), fc.jsonValue())
  .map(([status, key, value]) => `{${JSON.stringify(status).slice(1, -1)},${JSON.stringify(key)}:${JSON.stringify(value)}}`);

describe('parsing what others wrote', () => {
  it('any string is either a status or a problem named in words, never a throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), brokenStatus, fc.string({ unit: 'grapheme' })), (text) => {
        const parsed = parseStatusText(text);
        if (parsed.ok) expect(studyStatusSchema.safeParse(parsed.status).success).toBe(true);
        else expect(parsed.problem).toMatch(/\S/);
      }),
      { seed: 1207, numRuns: 2000 },
    );
  });

  it('every status the sidecar can write reads back as itself', () => {
    fc.assert(
      fc.property(validStatus, (status) => {
        const parsed = parseStatusText(JSON.stringify(status));
        expect(parsed).toEqual({ ok: true, status });
      }),
      { seed: 1208, numRuns: 500 },
    );
  });

  // Regression cases: each one a shape a hand-written check with a cast let through.
  it.each([
    ['a state that is not ours', '{"state":"finished","digest":"' + 'a'.repeat(64) + '"}', /state/],
    ['attempts as a string', JSON.stringify({ state: 'done', digest: 'a'.repeat(64), measurements: [], attempts: '3', createdAt: '2024-01-01T00:00:00Z', updatedAt: '2024-01-01T00:00:00Z' }), /attempts/],
    ['a date that is not one', JSON.stringify({ state: 'processing', digest: 'a'.repeat(64), measurements: [], attempts: 1, createdAt: 'yesterday', updatedAt: '2024-01-01T00:00:00Z' }), /createdAt/],
    ['measurements that are not a list', JSON.stringify({ state: 'done', digest: 'a'.repeat(64), measurements: { right: 1 }, attempts: 1, createdAt: '2024-01-01T00:00:00Z', updatedAt: '2024-01-01T00:00:00Z' }), /measurements/],
    ['JSON null', 'null', /value/],
    ['not JSON', '{"state":', /not JSON/],
  ])('reports %s', (_what, text, problem) => {
    const parsed = parseStatusText(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).toMatch(problem);
  });
});

describe('transitions', () => {
  it('allows the moves the sidecar makes and refuses a finish without a claim', () => {
    expect(canMove('absent', 'processing')).toBe(true);
    expect(canMove('processing', 'done')).toBe(true);
    expect(canMove('done', 'queued')).toBe(true);
    expect(canMove('absent', 'done')).toBe(false);
    expect(canMove('queued', 'done')).toBe(false);
    expect(canMove('failed', 'done')).toBe(false);
  });
});

describe('against a real Orthanc', () => {
  const orthanc = useOrthanc();

  const base = (state: StudyStatus['state']): StudyStatus => ({
    state,
    digest: 'b'.repeat(64),
    measurements: [{ name: 'Right Kidney', valueMl: '125' }],
    attempts: 1,
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
  });

  it('two writes of the same content have different texts and ETags, so a stale compare-and-set loses (ABA)', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const first = await writeStatus(orthanc.client, study.orthancId, { kind: 'absent' }, base('processing'));
    expect(first).toBeDefined();
    const second = await writeStatus(orthanc.client, study.orthancId, { kind: 'readable', status: first!.status, etag: first!.etag }, base('processing'));
    expect(second!.status.version).toBe(first!.status.version! + 1);
    expect(second!.etag).not.toBe(first!.etag);
    // A writer still holding the first revision cannot write over the second, even with equal content.
    const stale = await writeStatus(orthanc.client, study.orthancId, { kind: 'readable', status: first!.status, etag: first!.etag }, base('processing'));
    expect(stale).toBeUndefined();
    const stored = await readStatus(orthanc.client, study.orthancId);
    expect(stored.kind === 'readable' && stored.status.version).toBe(2);
  });

  it('a final write (done, failed, waiting) stays a compare-and-set: over a stale revision it loses and leaves the other write', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const claimed = await writeStatus(orthanc.client, study.orthancId, { kind: 'absent' }, base('processing'));
    const held = { kind: 'readable', status: claimed!.status, etag: claimed!.etag } as const;
    // Somebody else (a retry request, a replica that took over) writes after our claim.
    const other = await writeStatus(orthanc.client, study.orthancId, held, { ...base('queued'), updatedAt: '2024-01-02T00:00:00.000Z' });
    expect(other).toBeDefined();
    expect(await writeFinalStatus(orthanc.client, study.orthancId, held, base('done'))).toBeUndefined();
    const kept = await readStatus(orthanc.client, study.orthancId);
    expect(kept.kind === 'readable' && kept.status.state).toBe('queued');
    // Over the revision it holds, the final write lands (its ETag is not read back: nothing of ours writes over it).
    const current = { kind: 'readable', status: other!.status, etag: other!.etag } as const;
    const done = await writeFinalStatus(orthanc.client, study.orthancId, current, { ...base('processing'), updatedAt: '2024-01-03T00:00:00.000Z' });
    expect(done?.version).toBe(3);
    const stored = await readStatus(orthanc.client, study.orthancId);
    expect(stored.kind === 'readable' && stored.status).toEqual(done);
  });

  it('refuses a transition the code should never make, before writing anything', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await expect(writeStatus(orthanc.client, study.orthancId, { kind: 'absent' }, base('done'))).rejects.toBeInstanceOf(StatusTransitionError);
    expect(await orthanc.client.studyMetadata(study.orthancId, METADATA.status)).toBeUndefined();
  });

  it('fuzz: whatever a broken client leaves in the status, the processor reports it and ends the study done', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, JSON.stringify({ 'Right Kidney': '125 ml' }));
    const processor = testProcessor(orthanc.client, new SidecarEvents(), { approaches: ['sr'] });
    const samples = fc.sample(fc.oneof(fc.string({ minLength: 1 }), fc.json(), brokenStatus), { seed: 1209, numRuns: 12 });
    for (const text of samples) {
      await orthanc.client.setStudyMetadata(study.orthancId, METADATA.status, text);
      const result = await processStudy(processor, study.orthancId);
      // A broken status is replaced by a claim and the (idempotent) work is done again; one that
      // happens to parse as done for these measurements is taken at its word.
      expect(['done', 'nothing']).toContain(result.kind);
      const after = await readStatus(orthanc.client, study.orthancId);
      if (result.kind === 'done') expect(after.kind === 'readable' && after.status.state).toBe('done');
    }
  });
});
