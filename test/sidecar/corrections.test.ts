// Corrections (issue 14) through the real sidecar process, the real CLI and a real Orthanc: a study
// done with 125/132 is corrected to 130/132 through the API, through `mark`, through `attach` and
// through a raw PUT with If-Match; afterwards the mark, the status and the stored Bundle agree, the
// new SR lists the old one as its predecessor, each source series has exactly one derived series
// (holding the new values), and the originals are byte-identical. Then a correction that arrives
// while the first version is being written, and a kill -9 in the middle of a correction.
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePart10, type NaturalDataset } from '../../src/dicom/part10.js';
import { readMeasurementReport } from '../../src/dicom/sr/read.js';
import { readKidneyBlock } from '../../src/dicom/private-tags/read.js';
import { SR_SERIES_DESCRIPTION } from '../../src/dicom/sr/document.js';
import { parseMeasurementsObject } from '../../src/measurements/parse.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { parseStatus, type StudyStatus } from '../../src/status/status.js';
import { dciodvfy, dsrdump, pixelmedSrValidator } from '../dicom/validators.js';
import { ctStudy, uploadStudy, type FixtureStudy } from '../fixtures/studies.js';
import { runCli } from '../helpers/cli.js';
import { startOrthanc, type TestOrthanc } from '../helpers/orthanc.js';
import { runSidecar, waitFor, type RunningSidecar } from '../helpers/sidecar-process.js';

const FIRST = { 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' };
const CORRECTED = { 'Right Kidney': '130 ml', 'Left Kidney': '132 ml' };
const D1 = parseMeasurementsObject(FIRST).digest;
const D2 = parseMeasurementsObject(CORRECTED).digest;

let orthanc: TestOrthanc;
let sidecar: RunningSidecar;
beforeAll(async () => {
  orthanc = await startOrthanc();
  sidecar = await runSidecar({ env: sidecarEnv('corrections-sidecar') });
}, 120_000);
afterAll(async () => {
  await sidecar?.stop();
  await orthanc?.stop();
});

function sidecarEnv(replica: string): Record<string, string> {
  return { ...orthanc.env, KV_POLL_INTERVAL_MS: '200', KV_RETRY_BASE_MS: '200', KV_REPLICA_ID: replica };
}

/** A study of two CT series (so "one derived series per source series" means something), with its originals' hashes. */
async function newStudy(images = [3, 2], size = 64): Promise<{ id: string; originals: Map<string, string> }> {
  const spec: FixtureStudy = { ...ctStudy(), series: images.map((n, i) => ({ modality: 'CT' as const, images: n, rows: size, columns: size, description: `Abdomen CT ${i + 1}` })) };
  const study = await uploadStudy(orthanc.client, spec);
  const originals = new Map<string, string>();
  for (const s of await orthanc.client.studySeries(study.orthancId)) {
    for (const instance of s.Instances) originals.set(instance, sha256(await orthanc.client.instanceFile(instance)));
  }
  return { id: study.orthancId, originals };
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function statusOf(studyId: string): Promise<StudyStatus | undefined> {
  const revision = await orthanc.client.studyMetadata(studyId, METADATA.status);
  return revision ? parseStatus(revision.value) : undefined;
}

async function doneAt(studyId: string, digest: string, timeoutMs = 90_000): Promise<StudyStatus> {
  await waitFor(async () => {
    const s = await statusOf(studyId);
    return s?.state === 'done' && s.digest === digest;
  }, timeoutMs, `status done at ${digest.slice(0, 12)}`);
  return (await statusOf(studyId)) as StudyStatus;
}

async function markThroughApi(studyId: string, body: Record<string, string>, on = sidecar): Promise<void> {
  const response = await fetch(`${on.url}/studies/${studyId}/kidney-volumes`, { method: 'POST', headers: { ...on.auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(response.status, await response.clone().text()).toBe(202);
}

/** The study first done with 125/132 through the API. */
async function doneWithFirstVersion(images?: number[]): Promise<{ id: string; originals: Map<string, string> }> {
  const study = await newStudy(images);
  await markThroughApi(study.id, FIRST);
  await doneAt(study.id, D1);
  return study;
}

/** Values of the stored Bundle's current Observations (not entered-in-error), sorted. */
async function bundleValues(studyId: string): Promise<number[]> {
  const text = (await orthanc.client.studyMetadata(studyId, METADATA.fhir))?.value ?? '{}';
  const bundle = JSON.parse(text) as { entry?: { resource?: { resourceType?: string; status?: string; valueQuantity?: { value?: number } } }[] };
  return (bundle.entry ?? [])
    .map((e) => e.resource)
    .filter((r) => r?.resourceType === 'Observation' && r.status !== 'entered-in-error')
    .map((r) => Number(r?.valueQuantity?.value))
    .sort((a, b) => a - b);
}

/** Our SRs in the study, as decoded datasets with their Orthanc IDs. */
async function ourReports(studyId: string): Promise<{ id: string; dataset: Record<string, unknown> }[]> {
  const reports: { id: string; dataset: Record<string, unknown> }[] = [];
  for (const s of await orthanc.client.studySeries(studyId)) {
    if (s.MainDicomTags['Modality'] !== 'SR' || s.MainDicomTags['SeriesDescription'] !== SR_SERIES_DESCRIPTION) continue;
    for (const id of s.Instances) reports.push({ id, dataset: decodePart10(await orthanc.client.instanceFile(id)).dataset as Record<string, unknown> });
  }
  return reports;
}

/** Image series that carry our block: their digest, volumes and instance count, by source series. */
async function derivedSeries(studyId: string, originals: ReadonlyMap<string, string>): Promise<{ source: string; digest: string; volumes: readonly number[]; instances: number }[]> {
  const found: { source: string; digest: string; volumes: readonly number[]; instances: number }[] = [];
  for (const s of await orthanc.client.studySeries(studyId)) {
    if (s.MainDicomTags['Modality'] === 'SR' || s.Instances.every((i) => originals.has(i))) continue;
    const block = readKidneyBlock(await orthanc.client.instanceFile(s.Instances[0] as string));
    found.push({ source: block?.sourceSeriesInstanceUid ?? '(no block)', digest: block?.digest ?? '', volumes: block?.volumesMl ?? [], instances: s.Instances.length });
  }
  return found;
}

function asArray(value: unknown): Record<string, unknown>[] {
  return (Array.isArray(value) ? value : value === undefined ? [] : [value]) as Record<string, unknown>[];
}

/** Everything a finished correction to 130/132 must show. */
async function expectCorrected(study: { id: string; originals: Map<string, string> }, source: string): Promise<void> {
  const status = (await statusOf(study.id)) as StudyStatus;
  expect(status.state).toBe('done');
  expect(status.digest).toBe(D2);
  // One owner of the current version: the mark, the status and the Bundle say the same.
  const pending = (await orthanc.client.studyMetadata(study.id, METADATA.pending))?.value ?? '';
  expect(parseMeasurementsObject(JSON.parse(pending)).digest).toBe(D2);
  expect(await bundleValues(study.id)).toEqual([130, 132]);
  // The history: the first version, then the correction, with where each came from.
  expect(status.history?.map((v) => [v.digest, v.source])).toEqual([
    [D1, 'api'],
    [D2, source],
  ]);
  expect(status.history?.[1]?.values).toBe('Right Kidney 130 mL, Left Kidney 132 mL');

  // The SR chain: two reports, the new one lists the old one (class, instance, series, study).
  const reports = await ourReports(study.id);
  expect(reports).toHaveLength(2);
  const volumes = (r: { dataset: Record<string, unknown> }): boolean => readMeasurementReport(r.dataset as NaturalDataset).some((m) => Number(m.valueMl) === 130);
  const current = reports.find(volumes);
  const old = reports.find((r) => !volumes(r));
  expect(current && old).toBeTruthy();
  const predecessor = asArray(current?.dataset['PredecessorDocumentsSequence']);
  expect(predecessor).toHaveLength(1);
  expect(predecessor[0]?.['StudyInstanceUID']).toBe(old?.dataset['StudyInstanceUID']);
  const series = asArray(predecessor[0]?.['ReferencedSeriesSequence']);
  expect(series.map((s) => s['SeriesInstanceUID'])).toEqual([old?.dataset['SeriesInstanceUID']]);
  const sops = asArray(series[0]?.['ReferencedSOPSequence']);
  expect(sops.map((s) => [s['ReferencedSOPClassUID'], s['ReferencedSOPInstanceUID']])).toEqual([[old?.dataset['SOPClassUID'], old?.dataset['SOPInstanceUID']]]);
  expect(asArray(old?.dataset['PredecessorDocumentsSequence'])).toHaveLength(0);

  // Exactly one derived series per source series, holding the new values; the old copies are gone.
  const derived = await derivedSeries(study.id, study.originals);
  expect(derived).toHaveLength(2);
  for (const d of derived) {
    expect(d.digest).toBe(D2);
    expect(d.volumes).toEqual([130, 132]);
  }
  expect(derived.map((d) => d.instances).sort()).toEqual([2, 3]);

  // The originals are all there, byte for byte.
  for (const [id, hash] of study.originals) expect(sha256(await orthanc.client.instanceFile(id))).toBe(hash);

  // verify shows the history and the chain.
  const verify = await runCli(['verify', study.id], orthanc.env);
  expect(verify.stdout).toContain(`from ${source}: Right Kidney 130 mL, Left Kidney 132 mL`);
  expect(verify.stdout).toContain('from api: Right Kidney 125 mL, Left Kidney 132 mL');
  expect(verify.stdout).toMatch(new RegExp(`SR chain \\(current first\\):\\n    current ${String(current?.dataset['SOPInstanceUID']).replace(/\./g, '\\.')}.*130.*\\n    predecessor ${String(old?.dataset['SOPInstanceUID']).replace(/\./g, '\\.')}.*125`));
}

describe('a done study corrected from 125/132 to 130/132', () => {
  it('through the HTTP API: the new SR replaces the old one and passes the validators', async () => {
    const study = await doneWithFirstVersion();
    await markThroughApi(study.id, CORRECTED);
    await doneAt(study.id, D2);
    await expectCorrected(study, 'api');
    const current = (await ourReports(study.id)).find((r) => readMeasurementReport(r.dataset as NaturalDataset).some((m) => Number(m.valueMl) === 130));
    const file = join(mkdtempSync(join(tmpdir(), 'kv-corr-')), 'sr.dcm');
    writeFileSync(file, await orthanc.client.instanceFile(current?.id ?? ''));
    expect((await dciodvfy(file)).errors).toEqual([]);
    const dump = await dsrdump(file);
    expect(dump.exitCode).toBe(0);
    expect(dump.errors).toEqual([]);
    expect((await pixelmedSrValidator(file)).errors).toEqual([]);
  }, 180_000);

  it('through kidney-volumes mark', async () => {
    const study = await doneWithFirstVersion();
    const marked = await runCli(['mark', study.id, '--right', '130', '--measure', 'Left Kidney=132'], orthanc.env);
    expect(marked.stderr).toBe('');
    expect(marked.code).toBe(0);
    expect(marked.stdout).toContain('mark replaced (a new version)');
    await doneAt(study.id, D2);
    await expectCorrected(study, 'cli');
  }, 180_000);

  it('through attach while the sidecar runs: attach returns with the status, the mark and the Bundle at the new version', async () => {
    const study = await doneWithFirstVersion();
    const attached = await runCli(['attach', study.id, '--right', '130', '--left', '132'], orthanc.env);
    expect(attached.code, attached.stderr).toBe(0);
    // No waiting for the sidecar: attach itself went through the status.
    const status = await statusOf(study.id);
    expect([status?.state, status?.digest]).toEqual(['done', D2]);
    await expectCorrected(study, 'attach');
  }, 180_000);

  it('through a PUT straight into Orthanc: refused without If-Match, accepted with the ETag', async () => {
    const study = await doneWithFirstVersion();
    const url = `${orthanc.url}/studies/${study.id}/metadata/${METADATA.pending}`;
    const auth = { authorization: `Basic ${Buffer.from(`${orthanc.username}:${orthanc.password}`).toString('base64')}` };
    const blind = await fetch(url, { method: 'PUT', headers: auth, body: JSON.stringify(CORRECTED) });
    expect(blind.status).toBe(409);
    const etag = (await fetch(url, { headers: auth })).headers.get('etag') ?? '';
    expect(etag).not.toBe('');
    const put = await fetch(url, { method: 'PUT', headers: { ...auth, 'if-match': etag }, body: JSON.stringify(CORRECTED) });
    expect(put.status).toBe(200);
    await doneAt(study.id, D2);
    await expectCorrected(study, 'mark');
  }, 180_000);
});

describe('a return to earlier values: 125/132, corrected to 130/132, then back to 125/132', () => {
  it('writes a third SR that lists both earlier ones; verify shows 125 (current), 130, 125; Tracking UIDs follow the kidney, not the values', async () => {
    const study = await doneWithFirstVersion([2]);
    await markThroughApi(study.id, CORRECTED);
    await doneAt(study.id, D2);
    await markThroughApi(study.id, FIRST);
    await waitFor(async () => (await statusOf(study.id))?.history?.length === 3, 90_000, 'the third version done');
    const status = (await statusOf(study.id)) as StudyStatus;
    expect([status.state, status.digest]).toEqual(['done', D1]);
    expect(status.history?.map((v) => v.digest)).toEqual([D1, D2, D1]);
    expect(await bundleValues(study.id)).toEqual([125, 132]);

    // Three reports: each lists every report before it.
    const reports = await ourReports(study.id);
    expect(reports).toHaveLength(3);
    const uid = (r: { dataset: Record<string, unknown> } | undefined): string => String(r?.dataset['SOPInstanceUID']);
    const listed = (r: { dataset: Record<string, unknown> }): string[] =>
      asArray(r.dataset['PredecessorDocumentsSequence']).flatMap((study) =>
        asArray(study['ReferencedSeriesSequence']).flatMap((series) => asArray(series['ReferencedSOPSequence']).map((sop) => String(sop['ReferencedSOPInstanceUID']))),
      );
    const [v1, v2, v3] = [0, 1, 2].map((n) => reports.find((r) => listed(r).length === n));
    expect(v1 && v2 && v3).toBeTruthy();
    expect(listed(v2!)).toEqual([uid(v1)]);
    expect(listed(v3!).sort()).toEqual([uid(v1), uid(v2)].sort());
    const values = (r: { dataset: Record<string, unknown> } | undefined) => readMeasurementReport(r?.dataset as NaturalDataset).map((m) => Number(m.valueMl));
    expect([values(v1), values(v2), values(v3)]).toEqual([
      [125, 132],
      [130, 132],
      [125, 132],
    ]);
    // Each version is its own report in its own series.
    expect(new Set([v1, v2, v3].map((r) => r?.dataset['SeriesInstanceUID'])).size).toBe(3);

    // TID 1501: the Tracking UID identifies the kidney tracked across versions, whatever its value.
    const tracking = (r: { dataset: Record<string, unknown> } | undefined) => new Map(readMeasurementReport(r?.dataset as NaturalDataset).map((m) => [m.name, m.trackingUid]));
    const [t1, t2, t3] = [tracking(v1), tracking(v2), tracking(v3)];
    expect(t1.get('Right Kidney')).toMatch(/^2\.25\.\d+$/);
    expect(t2.get('Right Kidney')).toBe(t1.get('Right Kidney'));
    expect(t3.get('Right Kidney')).toBe(t1.get('Right Kidney'));
    expect(t2.get('Left Kidney')).toBe(t1.get('Left Kidney'));
    expect(t1.get('Left Kidney')).not.toBe(t1.get('Right Kidney'));

    // verify: the current report first, then its predecessors newest first.
    const verify = await runCli(['verify', study.id], orthanc.env);
    const esc = (r: { dataset: Record<string, unknown> } | undefined): string => uid(r).replace(/\./g, '\\.');
    expect(verify.stdout).toMatch(
      new RegExp(`SR chain \\(current first\\):\\n    current ${esc(v3)}.*Right Kidney 125.*\\n    predecessor ${esc(v2)}.*Right Kidney 130.*\\n    predecessor ${esc(v1)}.*Right Kidney 125`),
    );

    // The new report passes the validators.
    const file = join(mkdtempSync(join(tmpdir(), 'kv-corr-')), 'sr.dcm');
    writeFileSync(file, await orthanc.client.instanceFile(v3?.id ?? ''));
    expect((await dciodvfy(file)).errors).toEqual([]);
    const dump = await dsrdump(file);
    expect(dump.exitCode).toBe(0);
    expect(dump.errors).toEqual([]);
    expect((await pixelmedSrValidator(file)).errors).toEqual([]);
  }, 240_000);
});

describe('mark: errors as attach gives them', () => {
  it('exits with attach\'s codes: 7 for invalid values, 6 for an unknown study, writing nothing', async () => {
    const study = await newStudy([1]);
    const invalid = await runCli(['mark', study.id, '--right', '-5'], orthanc.env);
    const attachInvalid = await runCli(['attach', study.id, '--right', '-5'], orthanc.env);
    expect(invalid.code).toBe(attachInvalid.code);
    expect(invalid.code).toBe(7);
    expect(invalid.stderr).toContain('volume must be positive');
    const unknown = await runCli(['mark', '1.2.3.4.5.999', '--right', '130'], orthanc.env);
    const attachUnknown = await runCli(['attach', '1.2.3.4.5.999', '--right', '130'], orthanc.env);
    expect(unknown.code).toBe(attachUnknown.code);
    expect(unknown.code).toBe(6);
    expect(unknown.stderr).toContain('1.2.3.4.5.999');
    expect(await orthanc.client.studyMetadata(study.id, METADATA.pending)).toBeUndefined();
  }, 60_000);
});

describe('a correction that arrives while the first version is being written', () => {
  it('ends at the correction: the older version never wins', async () => {
    const study = await newStudy([24, 16], 256);
    await markThroughApi(study.id, FIRST);
    // The first version is under way (claimed, its SR stored) when the correction comes.
    await waitFor(async () => (await statusOf(study.id))?.state === 'processing' && (await ourReports(study.id)).length >= 1, 60_000, 'first version being written');
    await markThroughApi(study.id, CORRECTED);
    await doneAt(study.id, D2, 120_000);
    // Nothing still in flight may bring the first version back.
    await new Promise((r) => setTimeout(r, 2000));
    const status = (await statusOf(study.id)) as StudyStatus;
    expect([status.state, status.digest]).toEqual(['done', D2]);
    expect(status.history?.[status.history.length - 1]?.digest).toBe(D2);
    expect(await bundleValues(study.id)).toEqual([130, 132]);
    const derived = await derivedSeries(study.id, study.originals);
    expect(derived.map((d) => [d.digest, d.volumes])).toEqual([
      [D2, [130, 132]],
      [D2, [130, 132]],
    ]);
    expect(derived.map((d) => d.instances).sort((a, b) => a - b)).toEqual([16, 24]);
    for (const [id, hash] of study.originals) expect(sha256(await orthanc.client.instanceFile(id))).toBe(hash);
  }, 240_000);
});

describe('kill -9 in the middle of a correction, then a restart', () => {
  it('leaves one consistent current version: no duplicate SRs or derived series', async () => {
    const own = await runSidecar({ env: sidecarEnv('corrections-kill') });
    let second: RunningSidecar | undefined;
    try {
      const study = await newStudy([30, 10], 256);
      await markThroughApi(study.id, FIRST, own);
      await doneAt(study.id, D1);
      const before = await derivedSeries(study.id, study.originals);
      await markThroughApi(study.id, CORRECTED, own);
      // Killed while the correction's derived copies are being written.
      await waitFor(async () => (await derivedSeries(study.id, study.originals)).some((d) => d.digest === D2), 60_000, 'correction copies under way');
      await own.kill9();
      const killed = await statusOf(study.id);
      expect(before.every((d) => d.digest === D1)).toBe(true);
      second = await runSidecar({ env: sidecarEnv('corrections-kill'), stateDir: own.stateDir });
      await doneAt(study.id, D2, 120_000);
      const status = (await statusOf(study.id)) as StudyStatus;
      expect(killed?.state === 'done' ? killed.digest : D2).toBe(D2);
      expect(status.history?.map((v) => v.digest)).toEqual([D1, D2]);
      expect(await bundleValues(study.id)).toEqual([130, 132]);
      expect(await ourReports(study.id)).toHaveLength(2);
      const derived = await derivedSeries(study.id, study.originals);
      expect(derived.map((d) => d.digest)).toEqual([D2, D2]);
      expect(derived.map((d) => d.instances).sort((a, b) => a - b)).toEqual([10, 30]);
      for (const [id, hash] of study.originals) expect(sha256(await orthanc.client.instanceFile(id))).toBe(hash);
    } finally {
      await own.stop();
      await second?.stop();
    }
  }, 300_000);
});
