// What verify prints for a study written twice (once by the CLI, then by the real sidecar with new
// volumes): dates as dates, nested JSON, and which version of each output is current.
import { beforeAll, describe, expect, it } from 'vitest';
import { parseMeasurementsObject } from '../../src/measurements/parse.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { ctStudy, uploadStudy, type BuiltStudy } from '../fixtures/studies.js';
import { runCli } from '../helpers/cli.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar } from '../helpers/sidecar-process.js';
import { waitForState } from '../sidecar/harness.js';

let study: BuiltStudy & { orthancId: string };
const orthanc = useOrthanc();
beforeAll(async () => {
  study = await uploadStudy(orthanc.client, ctStudy(2, { name: 'Verify^Versions' }));
  const first = await runCli(['attach', study.studyInstanceUid, '--right', '100', '--left', '110'], orthanc.env);
  if (first.code !== 0) throw new Error(first.stderr);
  // SR ContentTime has whole seconds: the second version must be written in a later second.
  await new Promise((r) => setTimeout(r, 1100));
  const sidecar = await runSidecar({ env: { ...orthanc.env, KV_POLL_INTERVAL_MS: '200' } });
  try {
    const second = { 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' };
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, JSON.stringify(second));
    // attach went through the status (issue 14): it is done already, at the first version.
    const digest = parseMeasurementsObject(second).digest;
    const deadline = Date.now() + 40_000;
    let status = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 40_000);
    while (status.digest !== digest && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      status = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 40_000);
    }
    if (status.state !== 'done' || status.digest !== digest) throw new Error(JSON.stringify(status));
  } finally {
    await sidecar.stop();
  }
});

describe('verify output', () => {
  it('prints dates as dates and the current version of every output, with the older ones counted', async () => {
    const run = await runCli(['verify', study.studyInstanceUid], orthanc.env);
    expect(run.stdout).toMatch(/^sr: SR [\d.]+ written \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}: Right Kidney 125 mL/m);
    expect(run.stdout).not.toMatch(/\b\d{8} \d{6}\b/);
    expect(run.stdout).toMatch(/sidecar status: done \(attempt 1, \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC\)/);
    expect(run.stdout).toMatch(/^ {2}sr current: sopInstanceUid [\d.]+, seriesInstanceUid [\d.]+, written \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}; 1 older version kept$/m);
    expect(run.stdout).toMatch(/^ {2}fhir current: bundle [\w-]+, issued \d{4}-\d{2}-\d{2}T/m);
    // The derived series of the first version were deleted once the second was verified (issue 14).
    expect(run.stdout).toMatch(/^ {2}private current: series [\d.]+, digest [0-9a-f]{12}$/m);
    expect(run.stdout).toMatch(/^ {4}current \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC from mark: Right Kidney 125 mL, Left Kidney 132 mL \(digest [0-9a-f]{12}\)\n {4}\S.* from attach: Right Kidney 100 mL, Left Kidney 110 mL/m);
    expect(run.stdout).toMatch(/^ {2}SR chain \(current first\):\n {4}current [\d.]+ written [\d-]+ [\d:]+: Right Kidney 125 mL, Left Kidney 132 mL\n {4}predecessor [\d.]+ written [\d-]+ [\d:]+: Right Kidney 100 mL, Left Kidney 110 mL$/m);
  });

  it('--json nests the stored JSON (mark, status, FHIR Bundle) as objects and names the current versions', async () => {
    const run = await runCli(['verify', study.studyInstanceUid, '--json'], orthanc.env);
    const out = JSON.parse(run.stdout) as {
      metadata: { pending: Record<string, string>; status: { state: string; digest: string }; fhir: { resourceType: string } };
      stored: { approach: string; details: { reports?: { written: string; measurements: { valueMl: string }[] }[] } }[];
      current: { approach: string; current: Record<string, string>; older: number }[];
    };
    expect(out.metadata.pending).toEqual({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });
    expect(out.metadata.status.state).toBe('done');
    expect(out.metadata.fhir.resourceType).toBe('Bundle');
    const reports = out.stored.find((s) => s.approach === 'sr')?.details.reports ?? [];
    expect(reports.map((r) => r.measurements[0]?.valueMl)).toEqual(['100', '125']);
    for (const r of reports) expect(r.written).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
    const current = Object.fromEntries(out.current.map((c) => [c.approach, c]));
    expect(current['sr']?.older).toBe(1);
    expect(current['private']?.older).toBe(0);
    expect(current['private']?.current['digest']).toBe(out.metadata.status.digest.slice(0, 12));
    expect(current['fhir']?.current['bundle']).toMatch(/^[\w-]+$/);
  });
});
