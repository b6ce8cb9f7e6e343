// Claims and leases of one study between replicas, in process against a real Orthanc: a race has
// one winner, a live claim is respected, an expired one is taken over, and a replica that loses
// its lease mid-study writes nothing more and leaves the other's status alone.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { SidecarEvents } from '../../src/sidecar/events.js';
import { SidecarMetrics } from '../../src/sidecar/metrics.js';
import { processStudy, type ProcessorDeps } from '../../src/sidecar/processor.js';
import { parseStatus, type StudyStatus } from '../../src/status/status.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { clientThrough, startGateProxy } from '../helpers/gate-proxy.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { testProcessor } from '../sidecar/harness.js';

const orthanc = useOrthanc();

const MARK = JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });

/** A replica's processor whose log lines and claim metrics the test can read. */
function replica(owner: string, overrides: Partial<ProcessorDeps> = {}): { deps: ProcessorDeps; lines: () => Record<string, unknown>[]; claims: (outcome: string) => Promise<number> } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  const metrics = new SidecarMetrics({ defaultMetrics: false });
  const deps = testProcessor(orthanc.client, new SidecarEvents(), { owner, log: createLogger('info', stream), metrics, ...overrides });
  return {
    deps,
    lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
    claims: async (outcome) => (await metrics.claims.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0,
  };
}

/** A study of `images` CT images with the measurements marked, waiting for a replica. */
async function markedStudy(images = 1): Promise<string> {
  const study = await uploadStudy(orthanc.client, ctStudy(images));
  await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, MARK);
  return study.orthancId;
}

/** The path of a study's status, as a held request names it. */
const statusPath = (studyId: string): string => `/studies/${studyId}/metadata/${METADATA.status}`;

async function status(studyId: string): Promise<StudyStatus | undefined> {
  return parseStatus((await orthanc.client.studyMetadata(studyId, METADATA.status))?.value ?? '');
}

/** Writes a processing claim of another replica, as if it held the study. */
async function claimAs(studyId: string, owner: string, leaseUntil: Date): Promise<void> {
  const now = new Date().toISOString();
  const claim: StudyStatus = { state: 'processing', digest: 'f'.repeat(64), measurements: [], attempts: 1, createdAt: now, updatedAt: now, owner, leaseUntil: leaseUntil.toISOString() };
  await orthanc.client.setStudyMetadata(studyId, METADATA.status, JSON.stringify(claim));
}

describe('claims between replicas', () => {
  it('lets exactly one of two racing replicas process a study', async () => {
    const studyId = await markedStudy();
    // Both replicas talk to Orthanc through a proxy that holds their claim writes until both have
    // arrived: each read the study unclaimed, and neither write is answered before the other is sent.
    const proxy = await startGateProxy(orthanc.url);
    try {
      const claims = proxy.hold((r) => r.method === 'PUT' && r.path === statusPath(studyId));
      const client = clientThrough(proxy, orthanc);
      const [a, b] = [replica('a', { client, approaches: ['sr', 'fhir'] }), replica('b', { client, approaches: ['sr', 'fhir'] })];
      const racing = Promise.all([processStudy(a.deps, studyId), processStudy(b.deps, studyId)]);
      await claims.arrived(2);
      claims.release();
      const results = await racing;
      expect(results.map((r) => r.kind).sort()).toEqual(['busy', 'done']);
      expect((await a.claims('claimed')) + (await b.claims('claimed'))).toBe(1);
      // The loser lost at its compare-and-set claim, not by reading the winner's claim first.
      expect((await a.claims('lost')) + (await b.claims('lost'))).toBe(1);
      expect([...a.lines(), ...b.lines()].filter((l) => l['event'] === 'lost').map((l) => l['stage'])).toEqual(['claim']);
      const writers = [a, b].filter((r) => r.lines().some((l) => l['event'] === 'write'));
      expect(writers).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });

  it('respects a live claim of another replica and takes over an expired one', async () => {
    const studyId = await markedStudy();
    const b = replica('b', { approaches: ['sr'] });
    await claimAs(studyId, 'a', new Date(Date.now() + 60_000));
    expect(await processStudy(b.deps, studyId)).toMatchObject({ kind: 'busy', owner: 'a' });
    expect(await b.claims('claimed')).toBe(0);

    await claimAs(studyId, 'a', new Date(Date.now() - 1000));
    expect((await processStudy(b.deps, studyId)).kind).toBe('done');
    expect(await b.claims('took-over')).toBe(1);
    expect(b.lines().find((l) => l['event'] === 'took-over')).toMatchObject({ studyId, previousOwner: 'a' });
  });

  // The take-over below comes at a moment the test chooses, not at whatever moment a poll of the
  // status happens to see: the claim's ETag is read back after its PUT (status.ts writeStatus), and
  // a write of another replica between that PUT and that read is a different case, the next test.
  it('stops writing once another replica took the study over, and leaves its status alone', async () => {
    const studyId = await markedStudy(2);
    // Long enough that no stall of a loaded machine ends it on its own before the take-over.
    const leaseMs = 2000;
    const proxy = await startGateProxy(orthanc.url);
    try {
      // a's first write (the SR's upload, the first step's) waits at the proxy: a holds its claim,
      // read back, and has started its steps when the other replica takes over.
      const uploads = proxy.hold((r) => r.method === 'POST' && r.path === '/instances');
      const client = clientThrough(proxy, orthanc);
      const a = replica('a', { client, leaseMs });
      const processing = processStudy(a.deps, studyId);
      await uploads.arrived(1);
      expect(a.lines().map((l) => l['event'])).toContain('claimed');
      // Another replica's take-over, as if a's lease had expired while it was stalled.
      await claimAs(studyId, 'b', new Date(Date.now() + 60_000));
      // No renewal of a can land after that write (its If-Match names a's revision), so a's lease
      // ends within leaseMs of it at the latest, and its next step must find the lease gone.
      await new Promise((r) => setTimeout(r, leaseMs));
      uploads.release();
      const result = await processing;
      expect(result.kind).toBe('retry');
      expect(await a.claims('claimed')).toBe(1);
      expect(await a.claims('lease-lost')).toBe(1);
      expect(await a.claims('lost')).toBe(0);
      expect(a.lines().filter((l) => l['event'] === 'lost')).toEqual([expect.objectContaining({ studyId, stage: 'renew' })]);
      // The upload in flight landed; no step after it was started: no Bundle, no private copies.
      const written = a.lines().filter((l) => l['event'] === 'write').map((l) => l['approach']);
      expect(written).not.toContain('fhir');
      expect(written).not.toContain('private');
      expect(await orthanc.client.studyMetadata(studyId, METADATA.fhir)).toBeUndefined();
      const series = await orthanc.client.studySeries(studyId);
      expect(series.filter((s) => s.MainDicomTags['Modality'] === 'CT').reduce((n, s) => n + s.Instances.length, 0)).toBe(2);
      expect(a.lines().some((l) => l['event'] === 'done')).toBe(false);
      expect(await status(studyId)).toMatchObject({ state: 'processing', owner: 'b' });
    } finally {
      await proxy.close();
    }
  });

  it('gives the study up when another write lands between its claim and the read-back of its ETag', async () => {
    const studyId = await markedStudy();
    const proxy = await startGateProxy(orthanc.url);
    try {
      // The study has no status yet, so the claim is a create-only PUT with no read before it; the
      // first GET of the status is the read-back of the claim's ETag, sent once the PUT was answered.
      const readBack = proxy.hold((r) => r.method === 'GET' && r.path === statusPath(studyId));
      const client = clientThrough(proxy, orthanc);
      const a = replica('a', { client });
      const processing = processStudy(a.deps, studyId);
      await readBack.arrived(1);
      expect(await status(studyId)).toMatchObject({ state: 'processing', owner: 'a' });
      await claimAs(studyId, 'b', new Date(Date.now() + 60_000));
      readBack.release();
      // a never learnt its claim's ETag, so it never held the study (no renewal, no final write
      // could be a compare-and-set on it): a lost claim, like a 409, left to b's write, whose change
      // brings the study back to every replica.
      expect(await processing).toMatchObject({ kind: 'busy', owner: 'another writer' });
      expect(await a.claims('claimed')).toBe(0);
      expect(await a.claims('lost')).toBe(1);
      expect(await a.claims('lease-lost')).toBe(0);
      expect(a.lines().filter((l) => l['event'] === 'lost').map((l) => l['stage'])).toEqual(['claim']);
      expect(a.lines().filter((l) => l['event'] === 'write')).toEqual([]);
      expect(await status(studyId)).toMatchObject({ state: 'processing', owner: 'b' });
    } finally {
      await proxy.close();
    }
  });
});
