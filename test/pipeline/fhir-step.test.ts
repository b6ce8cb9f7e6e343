import type { Bundle, ImagingStudy, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { readKidneyVolumeBundle } from '../../src/fhir/read.js';
import { validateFhirResource } from '../helpers/fhir-validate.js';
import { buildSet } from '../../src/measurements/parse.js';
import type { Approach } from '../../src/pipeline/approaches.js';
import { attach } from '../../src/pipeline/attach.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { outcomeRecord } from '../../src/pipeline/outcomes.js';
import { verify } from '../../src/pipeline/verify.js';
import { ctStudy, uploadStudy, type FixtureStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

const orthanc = useOrthanc();

const NOW = new Date('2024-05-06T07:08:09.123Z');
const KIDNEYS = buildSet([
  { name: 'Right Kidney', value: '125.0 mL' },
  { name: 'Left Kidney', value: '132 mL' },
]);

function run(studyUid: string, measurements = KIDNEYS, approaches: Approach[] = ['fhir'], now = NOW) {
  const settings = { srSeriesNumber: 9999, timeZone: 'Europe/Berlin' };
  return attach({ client: orthanc.client, settings, now: () => now }, studyUid, measurements, approaches);
}

async function storedBundle(orthancId: string): Promise<{ json: string; etag: string | undefined; bundle: Bundle }> {
  const stored = await orthanc.client.studyMetadata(orthancId, METADATA.fhir);
  if (stored === undefined) throw new Error(`study ${orthancId} has no ${METADATA.fhir} metadata`);
  return { json: stored.value, etag: stored.etag, bundle: JSON.parse(stored.value) as Bundle };
}

function resources<T extends Resource>(bundle: Bundle, type: T['resourceType']): T[] {
  return (bundle.entry ?? []).map((e) => e.resource).filter((r): r is T => r?.resourceType === type);
}

const volumes = (json: string) => readKidneyVolumeBundle(json).observations.map(({ name, volumeMl, bodySiteCode }) => ({ name, volumeMl, bodySiteCode }));

describe('the FHIR step against a real Orthanc', () => {
  it('stores a valid Bundle about the study and its real patient as the KidneyVolumes metadata, and verify reports it', async () => {
    const spec: FixtureStudy = ctStudy(2, { id: 'PID-FHIR-7', issuer: 'HOSPITAL-A' });
    const study = await uploadStudy(orthanc.client, spec);
    const report = await run(study.studyInstanceUid);

    const { json, bundle } = await storedBundle(study.orthancId);
    expect(validateFhirResource(bundle)).toEqual([]);
    expect(json).not.toContain('Patient/example');
    expect(json).toContain('"value":125.0'); // compact, and the volume keeps its precision
    const [patient] = resources<Patient>(bundle, 'Patient');
    expect(patient?.identifier?.map((i) => i.value)).toContain('PID-FHIR-7');
    const [imagingStudy] = resources<ImagingStudy>(bundle, 'ImagingStudy');
    expect(imagingStudy?.identifier).toContainEqual({ system: 'urn:dicom:uid', value: `urn:oid:${study.studyInstanceUid}` });
    expect(volumes(json)).toEqual([
      { name: 'Right Kidney', volumeMl: 125, bodySiteCode: '9846003' },
      { name: 'Left Kidney', volumeMl: 132, bodySiteCode: '18639004' },
    ]);
    // StudyTime 10:15:30 in January, no TimezoneOffsetFromUTC in the study: the configured zone applies.
    const observations = resources<Observation>(bundle, 'Observation');
    expect(observations.map((o) => o.effectiveDateTime)).toEqual(['2024-01-15T10:15:30+01:00', '2024-01-15T10:15:30+01:00']);

    const [outcome] = report.outcomes;
    expect(outcome).toMatchObject({
      approach: 'fhir',
      alreadyPresent: false,
      details: { observations: 2, bytes: Buffer.byteLength(json, 'utf8'), bundleIdentifier: bundle.identifier?.value },
    });
    // The Bundle is handed over in the FHIR outcome, never inside what gets printed.
    expect(outcome?.approach === 'fhir' ? outcome.bundle.identifier : undefined).toEqual(bundle.identifier);
    expect(JSON.stringify(report.outcomes.map(outcomeRecord))).not.toContain('"resourceType"');

    const verified = await verify(orthanc.client, study.orthancId);
    expect(verified.stored.find((s) => s.approach === 'fhir')).toMatchObject({
      found: true,
      details: {
        observations: [
          { name: 'Right Kidney', volumeMl: 125, bodySite: '9846003', anatomy: 'right-kidney' },
          { name: 'Left Kidney', volumeMl: 132, bodySite: '18639004', anatomy: 'left-kidney' },
        ],
      },
    });
  });

  it('finds its own Bundle on a second run and leaves the metadata revision alone', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await run(study.studyInstanceUid);
    const first = await storedBundle(study.orthancId);
    const again = await run(study.studyInstanceUid, KIDNEYS, ['fhir'], new Date('2024-06-01T00:00:00Z'));
    expect(again.outcomes[0]).toMatchObject({ approach: 'fhir', alreadyPresent: true, details: { observations: 2 } });
    const second = await storedBundle(study.orthancId);
    expect(second.etag).toBe(first.etag);
    expect(second.json).toBe(first.json);
  });

  it('replaces the Bundle when the measurements change', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await run(study.studyInstanceUid);
    const first = await storedBundle(study.orthancId);
    const corrected = buildSet([
      { name: 'Right Kidney', value: '126 mL' },
      { name: 'Left Kidney', value: '132 mL' },
      { name: 'Total Kidney Volume', value: '258 mL' },
    ]);
    const report = await run(study.studyInstanceUid, corrected);
    expect(report.outcomes[0]).toMatchObject({ alreadyPresent: false, details: { observations: 3 } });
    const second = await storedBundle(study.orthancId);
    expect(second.etag).not.toBe(first.etag);
    expect(second.bundle.identifier?.value).not.toBe(first.bundle.identifier?.value);
    expect(volumes(second.json).map((v) => [v.name, v.volumeMl])).toEqual([
      ['Right Kidney', 126],
      ['Left Kidney', 132],
      ['Total Kidney Volume', 258],
    ]);
  });

  it("dates the Observations in the study's own TimezoneOffsetFromUTC rather than the configured zone", async () => {
    const study = await uploadStudy(orthanc.client, { ...ctStudy(1), timezoneOffsetFromUtc: '+0900' });
    await run(study.studyInstanceUid);
    const { bundle } = await storedBundle(study.orthancId);
    expect(resources<Observation>(bundle, 'Observation')[0]?.effectiveDateTime).toBe('2024-01-15T10:15:30+09:00');
  });

  it('replaces metadata it cannot read, after verify says so', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await orthanc.client.putStudyMetadata(study.orthancId, METADATA.fhir, '{"resourceType":"Bundle","type":"collection"}');
    const before = await verify(orthanc.client, study.orthancId);
    expect(before.stored.find((s) => s.approach === 'fhir')).toMatchObject({ found: false, summary: expect.stringContaining('expected exactly one Patient') });
    const report = await run(study.studyInstanceUid);
    expect(report.outcomes[0]).toMatchObject({ alreadyPresent: false });
    expect(volumes((await storedBundle(study.orthancId)).json)).toHaveLength(2);
  });

  it('lists the SR written in the same run, and a later FHIR-only run keeps it', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const report = await run(study.studyInstanceUid, KIDNEYS, ['sr', 'fhir']);
    const sr = report.outcomes.find((o) => o.approach === 'sr')?.details;
    const { bundle, etag } = await storedBundle(study.orthancId);
    const [imagingStudy] = resources<ImagingStudy>(bundle, 'ImagingStudy');
    expect(imagingStudy?.series?.map((s) => [s.uid, s.instance?.[0]?.uid])).toEqual([[sr?.['seriesInstanceUid'], sr?.['sopInstanceUid']]]);

    const fhirOnly = await run(study.studyInstanceUid);
    expect(fhirOnly.outcomes[0]).toMatchObject({ alreadyPresent: true });
    expect((await storedBundle(study.orthancId)).etag).toBe(etag);
  });
});

describe('two writers racing for the FHIR metadata', () => {
  it('lets exactly one write it; the other finds the same Bundle already there', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const reports = await Promise.all([run(study.studyInstanceUid), run(study.studyInstanceUid), run(study.studyInstanceUid)]);
    const written = reports.map((r) => r.outcomes.find((o) => o.approach === 'fhir')?.alreadyPresent);
    expect(written.filter((present) => present === false)).toHaveLength(1);
    expect(written.filter((present) => present === true)).toHaveLength(2);
    expect(volumes((await storedBundle(study.orthancId)).json)).toHaveLength(2);
  });
});

describe('the metadata read when the check began (issue 17)', () => {
  function runSeen(studyId: string, metadataSeen: Record<string, string>, measurements = KIDNEYS, now = NOW) {
    const settings = { srSeriesNumber: 9999, timeZone: 'Europe/Berlin' };
    return attach({ client: orthanc.client, settings, now: () => now, metadataSeen }, studyId, measurements, ['fhir']);
  }

  it('saves the read of a Bundle that was absent then', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const reads: string[] = [];
    const counting = new Proxy(orthanc.client, {
      get(target, key, receiver) {
        const value: unknown = Reflect.get(target, key, receiver);
        if (key === 'studyMetadata' && typeof value === 'function') {
          return (id: string, name: string) => {
            reads.push(name);
            return (value as (id: string, name: string) => unknown).call(target, id, name);
          };
        }
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const settings = { srSeriesNumber: 9999, timeZone: 'Europe/Berlin' };
    const report = await attach({ client: counting, settings, now: () => NOW, metadataSeen: {} }, study.orthancId, KIDNEYS, ['fhir']);
    expect(report.outcomes[0]?.alreadyPresent).toBe(false);
    // Only the read-back after the write.
    expect(reads.filter((name) => name === METADATA.fhir)).toHaveLength(1);
    expect(volumes((await storedBundle(study.orthancId)).json)).toHaveLength(2);
  });

  it('never overwrites a Bundle written since: the same one is found there, another one is a lost race', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await run(study.orthancId);
    const first = await storedBundle(study.orthancId);
    // The check began before that write: its snapshot has no Bundle.
    const same = await runSeen(study.orthancId, {});
    expect(same.outcomes[0]?.alreadyPresent).toBe(true);
    const other = buildSet([{ name: 'Right Kidney', value: '126 mL' }]);
    await expect(runSeen(study.orthancId, {}, other)).rejects.toThrow(`study metadata ${METADATA.fhir} of study ${study.studyInstanceUid} changed while it was being written`);
    expect((await storedBundle(study.orthancId)).json).toBe(first.json);
  });
});
