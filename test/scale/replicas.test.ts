// Three sidecar replicas on two Orthancs sharing one PostgreSQL index: 200 marked studies, one
// replica killed with kill -9 midway, one Orthanc frozen (SIGSTOP) for longer than the lease.
// Every study must end done exactly once with exactly one SR and one derived series, the originals
// untouched, and every claim accounted for in the replicas' logs.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapLimit } from '../../src/pipeline/concurrency.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { parseStatus } from '../../src/status/status.js';
import { buildStudy, ctStudy } from '../fixtures/studies.js';
import { type TestOrthanc } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar, waitFor, type RunningSidecar } from '../helpers/sidecar-process.js';
import { firstWriters, orthancPid, parseLog, tally, type ReplicaTally } from './accounting.js';
import { startPostgres, type TestPostgres } from './postgres.js';

const STUDIES = 200;
const LEASE_MS = 3000;
const FREEZE_MS = 4500;

let postgres: TestPostgres;
let storage: string;
beforeAll(async () => {
  postgres = await startPostgres();
  storage = mkdtempSync(join(tmpdir(), 'kv-shared-storage-'));
}, 60_000);
afterAll(async () => {
  await postgres?.stop();
  if (storage) rmSync(storage, { recursive: true, force: true });
});
// One after the other (vitest runs beforeAll hooks in order): the first one creates the schema in the empty database.
const orthancs = [useOrthanc(() => postgres.orthancConfig(storage)), useOrthanc(() => postgres.orthancConfig(storage))];

const doneCount = (sidecars: readonly RunningSidecar[]): number => sidecars.reduce((n, s) => n + parseLog(s.stdout()).filter((e) => e.event === 'done').length, 0);
/** A replica's kidney_volumes_claims_total for one outcome, from its /metrics text (0 when never counted). */
const claims = (metrics: string, outcome: string): number => Number(new RegExp(`^kidney_volumes_claims_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('several replicas on a PostgreSQL index', () => {
  it('process each of 200 studies exactly once through a replica crash and a frozen Orthanc', async () => {
    const [a, b] = orthancs as [TestOrthanc, TestOrthanc];
    const built = Array.from({ length: STUDIES }, () => buildStudy(ctStudy(1)));
    const ids = await mapLimit(built, 4, async (study) => (await a.client.upload(study.files[0]!)).ParentStudy);
    // The second Orthanc sees what the first stored: one index, one storage folder.
    expect((await b.client.study(ids[0]!)).ID).toBe(ids[0]);
    const originals = new Map(ids.map((id, i) => [id, sha256(built[i]!.files[0]!)]));

    const started = Date.now();
    const env = (orthanc: TestOrthanc, replica: string): Record<string, string> => ({
      ...orthanc.env,
      KV_REPLICA_ID: replica,
      KV_LEASE_MS: String(LEASE_MS),
      KV_POLL_INTERVAL_MS: '200',
      KV_RETRY_BASE_MS: '500',
      KV_CONCURRENCY: '2',
      KV_REQUEST_TIMEOUT_MS: '15000',
    });
    // r1 and r2 on the first Orthanc, r3 on the second; r1 is killed, the second Orthanc is frozen.
    const sidecars = [await runSidecar({ env: env(a, 'r1') }), await runSidecar({ env: env(a, 'r2') }), await runSidecar({ env: env(b, 'r3') })];
    const names = ['r1', 'r2', 'r3'];
    const [r1] = sidecars as [RunningSidecar];
    try {
      await mapLimit(ids, 8, (id) => a.client.setStudyMetadata(id, METADATA.pending, JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' })));
      await waitFor(() => doneCount(sidecars) >= STUDIES * 0.3, 90_000, '30% of the studies done');
      await r1.kill9();
      await waitFor(() => doneCount(sidecars) >= STUDIES * 0.6, 90_000, '60% of the studies done');
      const pid = orthancPid(b.folder);
      process.kill(pid, 'SIGSTOP');
      await new Promise((r) => setTimeout(r, FREEZE_MS));
      process.kill(pid, 'SIGCONT');
      // kill -9 can land between a done write and its log line: near the end, ask Orthanc as well.
      const everyStatusDone = async (): Promise<boolean> => (await mapLimit(ids, 8, async (id) => parseStatus((await a.client.studyMetadata(id, METADATA.status))?.value ?? '')?.state)).every((s) => s === 'done');
      await waitFor(async () => doneCount(sidecars) >= STUDIES || (doneCount(sidecars) >= STUDIES - 2 && (await everyStatusDone())), 120_000, 'every study done');
      const seconds = (Date.now() - started) / 1000;

      // What Orthanc holds: done, one SR, one derived series, the FHIR Bundle, the original untouched.
      await mapLimit(ids, 6, async (id) => {
        const status = parseStatus((await a.client.studyMetadata(id, METADATA.status))?.value ?? '');
        expect(status?.state, `study ${id}`).toBe('done');
        const series = await a.client.studySeries(id);
        expect(series.filter((s) => s.MainDicomTags['Modality'] === 'SR').map((s) => s.Instances.length), `SR of ${id}`).toEqual([1]);
        expect(series.filter((s) => s.MainDicomTags['Modality'] === 'CT').map((s) => s.Instances.length), `CT series of ${id}`).toEqual([1, 1]);
        expect(await a.client.studyMetadata(id, METADATA.fhir), `FHIR of ${id}`).toBeDefined();
        const original = series.find((s) => s.MainDicomTags['SeriesInstanceUID'] === built[ids.indexOf(id)]!.series[0]!.seriesInstanceUid);
        expect(sha256(await a.client.instanceFile(original!.Instances[0]!)), `original of ${id}`).toBe(originals.get(id));
      });

      // Every claim accounted for: each one ended done, lost its lease, is waiting to retry, or was in
      // the hands of the killed replica, whose studies were then taken over.
      const metrics = await Promise.all(sidecars.slice(1).map((s) => fetch(`${s.url}/metrics`, { headers: s.auth }).then((r) => r.text())));
      await Promise.all(sidecars.slice(1).map((s) => s.stop()));
      const logs = sidecars.map((s) => parseLog(s.stdout()));
      const tallies: ReplicaTally[] = names.map((name, i) => tally(name, logs[i]!));
      const sum = (key: 'claimed' | 'tookOver' | 'lost' | 'leaseLost' | 'retrying' | 'done' | 'failed'): number => tallies.reduce((n, t) => n + t[key], 0);
      const doneStudies = logs.flat().filter((e) => e.event === 'done').map((e) => e.studyId);
      expect(new Set(doneStudies).size, 'no study done twice').toBe(doneStudies.length);
      expect(sum('failed')).toBe(0);
      expect(tallies[1]!.inHand).toEqual([]);
      expect(tallies[2]!.inHand).toEqual([]);
      // The killed replica's studies in hand: taken over by another, or finished just before the kill (done, but not logged).
      const orphaned = tallies[0]!.inHand;
      const takenOver = new Set(logs.slice(1).flat().filter((e) => e.event === 'took-over').map((e) => e.studyId));
      const finishedUnlogged = orphaned.filter((id) => !takenOver.has(id));
      for (const id of finishedUnlogged) expect(doneStudies, `study ${id} held by the killed replica was neither taken over nor`).not.toContain(id);
      expect(doneStudies.length + finishedUnlogged.length).toBe(STUDIES);
      expect(sum('claimed') + sum('tookOver')).toBe(doneStudies.length + sum('leaseLost') + sum('retrying') + orphaned.length);

      // No output written twice, and a study whose outputs came from two replicas was handed over on an expired lease.
      const writers = firstWriters(logs.flat());
      const allTakenOver = new Set(logs.flat().filter((e) => e.event === 'took-over').map((e) => e.studyId));
      let handedOver = 0;
      for (const [id, byApproach] of writers) {
        for (const [approach, replicas] of byApproach) expect(replicas, `${approach} of study ${id} written by`).toHaveLength(1);
        const owners = new Set([...byApproach.values()].flat());
        if (owners.size > 1) {
          handedOver++;
          expect(allTakenOver.has(id), `study ${id} written by ${[...owners].join(' and ')} without a take-over`).toBe(true);
        }
      }

      // The surviving replicas' metrics agree with their logs.
      metrics.forEach((text, i) => {
        const tallied = tallies[i + 1]!;
        expect([claims(text, 'claimed'), claims(text, 'took-over'), claims(text, 'lost')]).toEqual([tallied.claimed, tallied.tookOver, tallied.lost]);
      });
      console.log(
        `replicas: ${STUDIES} studies in ${seconds.toFixed(1)} s; ${handedOver} studies with outputs from two replicas; per replica ` +
          tallies.map((t) => `${t.replica} claimed ${t.claimed}, took over ${t.tookOver}, lost ${t.lost} races, lost ${t.leaseLost} leases, retried ${t.retrying}, done ${t.done}, in hand at the end ${t.inHand.length}`).join('; '),
      );
    } finally {
      for (const s of sidecars) await s.stop();
    }
  }, 240_000);
});
