/**
 * Issue 14, results that change, as a hospital's interfaces see them: the real sidecar process and a
 * real Orthanc; the study is done with 125/132, corrected to 130/132 through the API, then the left
 * kidney is dropped by PUTting KidneyVolumesPending with If-Match. Each version's ORU^R01 is received
 * by a real MLLP listener; the stored Bundle's statuses and identifiers are read from Orthanc; and
 * each version is exported with `attach --fhir-server` to an R4 test server. Then the same without
 * the fhir approach (HL7 from the status history), with KV_HL7_DIR: 125, 130, 125 again, a resend,
 * and a second Orthanc study of the same StudyInstanceUID.
 */
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { Message } from 'node-hl7-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSet, parseMeasurementsObject } from '../../src/measurements/parse.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { parseStatus, type StudyStatus } from '../../src/status/status.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { runCli } from '../helpers/cli.js';
import { startFhirServer, type TestFhirServer } from '../helpers/fhir-server.js';
import { validateFhirResource } from '../helpers/fhir-validate.js';
import { startOrthanc, type TestOrthanc } from '../helpers/orthanc.js';
import { runSidecar, waitFor, type RunningSidecar } from '../helpers/sidecar-process.js';
import { startMllpListener, type MllpListener } from './mllp-listener.js';

// A sidecar, an Orthanc and CLI processes on a shared 2-core machine.
vi.setConfig({ testTimeout: 240_000 });

let orthanc: TestOrthanc;
let sidecar: RunningSidecar;
let ris: MllpListener;
let fhir: TestFhirServer;

beforeAll(async () => {
  orthanc = await startOrthanc({ StableAge: 1 });
  ris = await startMllpListener(() => ({ code: 'AA' }));
  fhir = await startFhirServer();
  sidecar = await runSidecar({
    env: { ...orthanc.env, KV_APPROACHES: 'sr,fhir', KV_HL7_MLLP: `${ris.host}:${ris.port}`, KV_POLL_INTERVAL_MS: '100', KV_RETRY_BASE_MS: '50' },
  });
}, 120_000);
afterAll(async () => {
  await sidecar?.stop();
  await ris?.stop();
  await fhir?.stop();
  await orthanc?.stop();
});

/** Waits until the study is done with exactly these measurements (digest), and answers its status. */
async function doneWith(studyId: string, digest: string, timeoutMs = 180_000): Promise<StudyStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: StudyStatus | undefined;
  while (Date.now() < deadline) {
    const revision = await orthanc.client.studyMetadata(studyId, METADATA.status);
    last = revision ? parseStatus(revision.value) : undefined;
    if (last?.digest === digest && (last.state === 'done' || last.state === 'failed')) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`study ${studyId} was not done with ${digest.slice(0, 12)} within ${timeoutMs} ms; last status: ${JSON.stringify(last)}`);
}

/** The ORU's OBR-25, MSH-10 and OBX rows as [OBX-3.1, OBX-3.9, OBX-4, OBX-5, OBX-11]. */
function oru(text: string): { msh10: string; obr25: string; obx: string[][] } {
  const message = new Message({ text });
  const obx: string[][] = [];
  message.get('OBX').forEach((s) => obx.push([s.get('3.1').toString(), s.get('3.9').toString(), s.get(4).toString(), s.get(5).toString(), s.get(11).toString()]));
  return { msh10: message.get('MSH.10').toString(), obr25: message.get('OBR.25').toString(), obx };
}

/** The stored Bundle's Observations as [tracking id, identifier, status, issued, value]. */
async function storedObservations(studyId: string): Promise<(string | number | undefined)[][]> {
  const bundle = JSON.parse((await orthanc.client.studyMetadata(studyId, METADATA.fhir))?.value ?? '') as Bundle;
  expect(validateFhirResource(bundle)).toEqual([]);
  return (bundle.entry ?? [])
    .map((e) => e.resource)
    .filter((r): r is Observation => r?.resourceType === 'Observation')
    .map((o) => [o.identifier?.[1]?.value, o.identifier?.[0]?.value, o.status, o.issued, o.valueQuantity?.value]);
}

/** Exports the study's current version to the R4 test server, as an admin would with the CLI. */
async function exportToFhir(studyUid: string, flags: string[]): Promise<string> {
  const run = await runCli(['attach', studyUid, ...flags, '--approach', 'fhir', '--fhir-server', fhir.base], { ...orthanc.env, KV_TIMEZONE: 'UTC' });
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return run.stdout;
}

describe('issue 14: a study done with 125/132, corrected to 130/132, then without the left kidney', () => {
  it('HL7 gets F, then C for the changed OBX and D for the removed one with the same OBX-3/OBX-4; FHIR keeps identifiers, amends and retracts', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1, { id: 'PID-CORR-1' }));
    const mark = async (body: Record<string, string>) => {
      const response = await fetch(`${sidecar.url}/studies/${study.orthancId}/kidney-volumes`, {
        method: 'POST',
        headers: { ...sidecar.auth, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(202);
    };

    // Version 1 through the API.
    const v1 = buildSet([
      { name: 'Right Kidney', value: '125 ml' },
      { name: 'Left Kidney', value: '132 ml' },
    ]);
    await mark({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });
    expect((await doneWith(study.orthancId, v1.digest)).state).toBe('done');
    expect(ris.received).toHaveLength(1);
    const first = oru(ris.received[0] as string);
    expect(first.obr25).toBe('F');
    expect(first.obx).toEqual([
      ['118565006', 'Right Kidney', '1', '125', 'F'],
      ['118565006', 'Left Kidney', '2', '132', 'F'],
    ]);
    const stored1 = await storedObservations(study.orthancId);
    expect(stored1.map(([name, , status, , value]) => [name, status, value])).toEqual([
      ['Right Kidney', 'final', 125],
      ['Left Kidney', 'final', 132],
    ]);
    expect(await exportToFhir(study.studyInstanceUid, ['--right', '125', '--left', '132'])).toContain(`FHIR server ${fhir.base}: 4 created, 0 updated, 0 already there`);
    const serverIds = fhir.current('Observation').map((o) => o.id);

    // Version 2: the radiologist corrects the right kidney through the API.
    const v2 = buildSet([
      { name: 'Right Kidney', value: '130 ml' },
      { name: 'Left Kidney', value: '132 ml' },
    ]);
    await mark({ 'Right Kidney': '130 ml', 'Left Kidney': '132 ml' });
    expect((await doneWith(study.orthancId, v2.digest)).state).toBe('done');
    expect(ris.received).toHaveLength(2);
    const second = oru(ris.received[1] as string);
    expect(second.obr25).toBe('C');
    expect(second.obx).toEqual([
      ['118565006', 'Right Kidney', '1', '130', 'C'],
      ['118565006', 'Left Kidney', '2', '132', 'F'],
    ]);
    expect(second.msh10).not.toBe(first.msh10);
    const stored2 = await storedObservations(study.orthancId);
    // Same identifiers; the right kidney amended with a new issued; the left final with its first issued.
    expect(stored2.map((o) => o[1])).toEqual(stored1.map((o) => o[1]));
    expect(stored2[0]?.slice(2, 3).concat(stored2[0]?.[4])).toEqual(['amended', 130]);
    expect(stored2[0]?.[3]).not.toBe(stored1[0]?.[3]);
    expect(stored2[1]).toEqual(stored1[1]);
    expect(await exportToFhir(study.studyInstanceUid, ['--right', '130', '--left', '132'])).toContain(`FHIR server ${fhir.base}: 0 created, 1 updated, 3 already there`);
    expect(fhir.current('Observation').map((o) => [o.id, o.meta?.versionId, (o as Observation).status, (o as Observation).valueQuantity?.value])).toEqual([
      [serverIds[0], '2', 'amended', 130],
      [serverIds[1], '1', 'final', 132],
    ]);

    // Version 3: the left kidney is dropped by PUTting the pending mark with If-Match, the documented route.
    const v3 = buildSet([{ name: 'Right Kidney', value: '130 ml' }]);
    const pending = await orthanc.client.studyMetadata(study.orthancId, METADATA.pending);
    await orthanc.client.putStudyMetadata(study.orthancId, METADATA.pending, JSON.stringify({ 'Right Kidney': '130 ml' }), pending?.etag);
    expect((await doneWith(study.orthancId, v3.digest)).state).toBe('done');
    expect(ris.received).toHaveLength(3);
    const third = oru(ris.received[2] as string);
    expect(third.obr25).toBe('C');
    expect(third.obx).toEqual([
      ['118565006', 'Right Kidney', '1', '130', 'F'],
      ['118565006', 'Left Kidney', '2', '', 'D'],
    ]);
    expect(new Set([first.msh10, second.msh10, third.msh10]).size).toBe(3);
    const stored3 = await storedObservations(study.orthancId);
    expect(stored3.map(([name, , status, , value]) => [name, status, value])).toEqual([
      ['Right Kidney', 'amended', 130],
      ['Left Kidney', 'entered-in-error', 132],
    ]);
    expect(await exportToFhir(study.studyInstanceUid, ['--right', '130'])).toContain(`FHIR server ${fhir.base}: 0 created, 1 updated, 3 already there`);
    expect(fhir.current('Observation').map((o) => [o.id, o.meta?.versionId, (o as Observation).status])).toEqual([
      [serverIds[0], '2', 'amended'],
      [serverIds[1], '2', 'entered-in-error'],
    ]);

    // verify reads the current version and names the withdrawn measurement.
    const verify = await runCli(['verify', study.orthancId, '--approach', 'fhir', '--json'], { ...orthanc.env, KV_TIMEZONE: 'UTC' });
    expect(verify.stdout).toContain('withdrawn (entered-in-error): Left Kidney');
  });
});

describe('issue 14 with KV_APPROACHES lacking fhir: HL7 alone still says what changed', () => {
  // An Orthanc and a sidecar of their own: the sidecar above (with fhir) would process these studies too.
  let own: TestOrthanc;
  let hl7Only: RunningSidecar;
  let engine: MllpListener;
  let dir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    own = await startOrthanc({ StableAge: 1 });
    engine = await startMllpListener(() => ({ code: 'AA' }));
    dir = mkdtempSync(join(tmpdir(), 'kv-hl7-corr-'));
    env = { ...own.env, KV_APPROACHES: 'sr', KV_HL7_MLLP: `${engine.host}:${engine.port}`, KV_HL7_DIR: dir };
    hl7Only = await runSidecar({ env: { ...env, KV_POLL_INTERVAL_MS: '100', KV_RETRY_BASE_MS: '50' } });
  }, 120_000);
  afterAll(async () => {
    await hl7Only?.stop();
    await engine?.stop();
    await own?.stop();
  });

  async function markOwn(studyId: string, body: Record<string, string>): Promise<void> {
    const response = await fetch(`${hl7Only.url}/studies/${studyId}/kidney-volumes`, { method: 'POST', headers: { ...hl7Only.auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(response.status).toBe(202);
  }

  /** Waits until the study has `versions` finished versions, the last one these measurements. */
  async function finished(studyId: string, digest: string, versions: number): Promise<void> {
    await waitFor(async () => {
      const status = parseStatus((await own.client.studyMetadata(studyId, METADATA.status))?.value ?? '');
      return status?.state === 'done' && status.digest === digest && status.history?.length === versions;
    }, 120_000, `version ${versions} of study ${studyId} done`);
  }

  it('125, 130, then 125 again: F, then C with OBX C/F twice, each with its own MSH-10 and file; a resend rewrites the same file; a second Orthanc study of the same UID gets its own', async () => {
    const spec = ctStudy(1, { id: 'PID-HL7-ONLY' });
    const study = await uploadStudy(own.client, spec);
    const first = { 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' };
    const v1 = parseMeasurementsObject(first).digest;
    const v2 = parseMeasurementsObject({ 'Right Kidney': '130 ml', 'Left Kidney': '132 ml' }).digest;

    await markOwn(study.orthancId, first);
    await finished(study.orthancId, v1, 1);
    await markOwn(study.orthancId, { 'Right Kidney': '130 ml', 'Left Kidney': '132 ml' });
    await finished(study.orthancId, v2, 2);
    await markOwn(study.orthancId, first);
    await finished(study.orthancId, v1, 3);
    expect(engine.received).toHaveLength(3);
    const [one, two, three] = engine.received.map((m) => oru(m));
    expect([one?.obr25, one?.obx]).toEqual([
      'F',
      [
        ['118565006', 'Right Kidney', '1', '125', 'F'],
        ['118565006', 'Left Kidney', '2', '132', 'F'],
      ],
    ]);
    expect([two?.obr25, two?.obx]).toEqual([
      'C',
      [
        ['118565006', 'Right Kidney', '1', '130', 'C'],
        ['118565006', 'Left Kidney', '2', '132', 'F'],
      ],
    ]);
    expect([three?.obr25, three?.obx]).toEqual([
      'C',
      [
        ['118565006', 'Right Kidney', '1', '125', 'C'],
        ['118565006', 'Left Kidney', '2', '132', 'F'],
      ],
    ]);
    // The return to 125 is another message: a receiver that drops duplicates by MSH-10 keeps it.
    expect(new Set([one?.msh10, two?.msh10, three?.msh10]).size).toBe(3);
    // One file per message, each holding what went over MLLP.
    const files = readdirSync(dir).sort();
    expect(files).toEqual([one, two, three].map((m) => `${study.studyInstanceUid}_${m?.msh10}.hl7`).sort());
    for (const [i, m] of [one, two, three].entries()) expect(readFileSync(join(dir, `${study.studyInstanceUid}_${m?.msh10}.hl7`), 'utf8')).toBe(engine.received[i]);

    // attach of the same values again resends the current version: the same MSH-10, the same file rewritten.
    const again = await runCli(['attach', study.orthancId, '--right', '125', '--left', '132', '--approach', 'sr'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(engine.received).toHaveLength(4);
    const resent = oru(engine.received[3] as string);
    expect([resent.msh10, resent.obr25, resent.obx]).toEqual([three?.msh10, 'C', three?.obx]);
    expect(readdirSync(dir).sort()).toEqual(files);
    expect(readFileSync(join(dir, `${study.studyInstanceUid}_${resent.msh10}.hl7`), 'utf8')).toBe(engine.received[3]);

    // The same StudyInstanceUID under another PatientID is another Orthanc study (another patient): its own message and file.
    const other = await uploadStudy(own.client, { ...ctStudy(1, { id: 'PID-HL7-OTHER' }), studyInstanceUid: study.studyInstanceUid });
    expect(other.orthancId).not.toBe(study.orthancId);
    await markOwn(other.orthancId, first);
    await finished(other.orthancId, v1, 1);
    expect(engine.received).toHaveLength(5);
    const theirs = oru(engine.received[4] as string);
    expect(theirs.obr25).toBe('F');
    expect([one?.msh10, three?.msh10]).not.toContain(theirs.msh10);
    expect(readdirSync(dir)).toHaveLength(4);
    expect(readFileSync(join(dir, `${study.studyInstanceUid}_${theirs.msh10}.hl7`), 'utf8')).toContain('PID|1||PID-HL7-OTHER');
  });
});
