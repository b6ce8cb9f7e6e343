// Issue 12, items 6 (HTTP), 7, 8, 10 and 14 through the real sidecar process and a real Orthanc:
// two patients sharing a StudyInstanceUID both processed, an empty PatientID, a study deleted
// while being written, a done study that grows.
import { describe, expect, it } from 'vitest';
import { METADATA } from '../../src/orthanc/metadata.js';
import type { OrthancClient } from '../../src/orthanc/client.js';
import { buildStudy, ctStudy, uploadStudy } from '../fixtures/studies.js';
import { runCli } from '../helpers/cli.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar, waitFor } from '../helpers/sidecar-process.js';
import { waitForState } from '../sidecar/harness.js';

const MARK = '{"Right Kidney": "125 ml", "Left Kidney": "132 ml"}';
const TOKEN = 'edge-token';

const orthanc = useOrthanc({ StableAge: 1 });

function env(replica: string): Record<string, string> {
  return { ...orthanc.env, KV_POLL_INTERVAL_MS: '200', KV_REPLICA_ID: replica, KV_API_TOKEN: TOKEN, KV_MAX_ATTEMPTS: '3' };
}

/** SOP Instance UIDs of the study's SR instances, and SeriesInstanceUIDs of its derived copies with their sizes. */
async function outputsOf(client: OrthancClient, studyId: string): Promise<{ reports: string[]; copies: [string, number][] }> {
  const series = await client.studySeries(studyId);
  const reports: string[] = [];
  for (const s of series.filter((x) => x.MainDicomTags['Modality'] === 'SR')) {
    for (const id of s.Instances) reports.push((await client.instance(id)).MainDicomTags['SOPInstanceUID'] ?? '');
  }
  const copies = series
    .filter((s) => (s.MainDicomTags['SeriesDescription'] ?? '').endsWith('+ kidney volumes'))
    .map((s): [string, number] => [s.MainDicomTags['SeriesInstanceUID'] ?? '', s.Instances.length]);
  return { reports, copies };
}

describe('the sidecar at the edges', () => {
  it('refuses an ambiguous UID over HTTP (409), processes both patients\' studies into their own outputs, and fails an empty PatientID for FHIR alone', { timeout: 240_000 }, async () => {
    const first = await uploadStudy(orthanc.client, ctStudy(2, { id: 'PID-A' }));
    const second = await uploadStudy(orthanc.client, { ...ctStudy(3, { id: 'PID-B' }), studyInstanceUid: first.studyInstanceUid });
    const anonymous = await uploadStudy(orthanc.client, ctStudy(2, { id: '' }));
    const sidecar = await runSidecar({ env: env('edges-1') });
    try {
      const refused = await fetch(`${sidecar.url}/studies/${first.studyInstanceUid}/kidney-volumes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: MARK,
      });
      expect(refused.status).toBe(409);
      const body = (await refused.json()) as { error: { kind: string; message: string } };
      expect(body.error.kind).toBe('ambiguous-study');
      expect(body.error.message).toContain(`${first.orthancId} (PatientID "PID-A")`);
      expect(body.error.message).toContain(`${second.orthancId} (PatientID "PID-B")`);
      expect(await orthanc.client.studyMetadata(first.orthancId, METADATA.pending)).toBeUndefined();

      for (const study of [first, second, anonymous]) await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, MARK);
      const settled = (id: string): ReturnType<typeof waitForState> => waitForState(orthanc.client, id, ['done', 'failed'], 150_000);
      const [one, two, none] = await Promise.all([settled(first.orthancId), settled(second.orthancId), settled(anonymous.orthancId)]);
      expect([one.state, two.state], JSON.stringify([one, two])).toEqual(['done', 'done']);
      const [outOne, outTwo] = [await outputsOf(orthanc.client, first.orthancId), await outputsOf(orthanc.client, second.orthancId)];
      expect(outOne.reports).toHaveLength(1);
      expect(outTwo.reports).toHaveLength(1);
      expect(outTwo.reports[0]).not.toBe(outOne.reports[0]);
      expect(outOne.copies.map(([, n]) => n)).toEqual([2]);
      expect(outTwo.copies.map(([, n]) => n)).toEqual([3]);
      expect(outTwo.copies[0]?.[0]).not.toBe(outOne.copies[0]?.[0]);

      // An empty PatientID fails FHIR alone, at the first attempt; the status lists the SR and copies written.
      expect(none.state).toBe('failed');
      expect(none.attempts).toBe(1);
      expect(none.errorKind).toBe('study-data');
      expect(none.error).toContain("the study's PatientID is empty");
      expect(Object.keys(none.outputs ?? {}).sort()).toEqual(['private', 'sr']);
      const shown = await runCli(['verify', anonymous.orthancId, '--approach', 'sr,private'], orthanc.env);
      expect(shown.code, shown.stdout).toBe(0);
    } finally {
      expect((await sidecar.stop()).code).toBe(0);
    }
  });

  it('completes the outputs of a done study that grows, with a new SR listing the new images', { timeout: 240_000 }, async () => {
    const spec = ctStudy(3);
    const study = await uploadStudy(orthanc.client, spec);
    const sidecar = await runSidecar({ env: env('edges-2') });
    try {
      await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, MARK);
      const done = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 150_000);
      expect(done.state).toBe('done');
      const late = buildStudy({
        ...spec,
        studyInstanceUid: study.studyInstanceUid,
        series: [{ ...spec.series[0]!, images: 2, seriesInstanceUid: study.series[0]!.seriesInstanceUid, firstInstanceNumber: 4 }],
      });
      for (const file of late.files) await orthanc.client.upload(file);
      // StableStudy comes StableAge (1 s) after the last image; the sidecar takes the study up again.
      await waitFor(async () => (await outputsOf(orthanc.client, study.orthancId)).reports.length === 2, 60_000, 'a second SR');
      let again = done;
      await waitFor(async () => {
        again = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 150_000);
        return again.finishedAt !== done.finishedAt;
      }, 60_000, 'a second outcome');
      expect(again.state, again.error).toBe('done');
      expect((await outputsOf(orthanc.client, study.orthancId)).copies.map(([, n]) => n)).toEqual([5]);
      expect(sidecar.stdout()).toContain('"event":"grown"');
      const shown = await runCli(['verify', study.orthancId], orthanc.env);
      expect(shown.code, shown.stdout).toBe(0);
    } finally {
      expect((await sidecar.stop()).code).toBe(0);
    }
  });

  it('leaves no trace of a study deleted while its copies are being uploaded', { timeout: 240_000 }, async () => {
    const spec = ctStudy(250);
    const built = buildStudy(spec);
    let studyId = '';
    for (let i = 0; i < built.files.length; i += 25) {
      const results = await Promise.all(built.files.slice(i, i + 25).map((f) => orthanc.client.upload(f)));
      studyId = results[0]?.ParentStudy ?? studyId;
    }
    const sidecar = await runSidecar({ env: env('edges-3') });
    try {
      await orthanc.client.setStudyMetadata(studyId, METADATA.pending, MARK);
      // Delete as an admin would, once the derived copies have started to arrive.
      await waitFor(async () => (await outputsOf(orthanc.client, studyId).catch(() => ({ copies: [] as [string, number][] }))).copies.some(([, n]) => n > 0), 120_000, 'first copies');
      const deleted = await fetch(`${orthanc.url}/studies/${studyId}`, {
        method: 'DELETE',
        headers: { authorization: `Basic ${Buffer.from(`${orthanc.username}:${orthanc.password}`).toString('base64')}` },
      });
      expect(deleted.status).toBe(200);
      await waitFor(() => sidecar.stdout().includes('"event":"deleted"'), 120_000, 'the sidecar noticing the deletion');
      await new Promise((r) => setTimeout(r, 1500));
      expect(await orthanc.client.lookup(built.studyInstanceUid)).toEqual([]);
      expect(await orthanc.client.studyIds()).not.toContain(studyId);
      const line = sidecar.stdout().split('\n').find((l) => l.includes('"event":"deleted"')) ?? '';
      expect(line).toMatch(/was deleted while kidney-volumes was writing into it; \d+ instance\(s\) this run had uploaded were removed again/);
    } finally {
      expect((await sidecar.stop()).code).toBe(0);
    }
  });
});
