import type { Bundle, ImagingStudy, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildKidneyVolumeBundle, type KidneyVolumeBundleOptions } from '../../src/fhir/bundle.js';
import { FhirInputError } from '../../src/fhir/errors.js';
import { formatStructuralIssues, structuralIssues } from '../../src/fhir/self-check.js';
import { serializeResource } from '../../src/fhir/serialize.js';
import { readKidneyVolumeBundle, type StoredKidneyVolumes } from '../../src/fhir/read.js';
import { formatIssues, loadFhirDefinitions, validateFhirResource } from '../helpers/fhir-validate.js';
import type { MeasurementSet } from '../../src/measurements/model.js';
import type { StudyFacts } from '../../src/study/facts.js';
import { KIDNEYS, NOW, SR, STUDY_UID, measurementSet, studyFacts, volume } from './fixtures.js';

const SNOMED = 'http://snomed.info/sct';

/** A Bundle as the FHIR step reads it back from Orthanc: the previous version of the next run. */
function stored(facts: StudyFacts, set: MeasurementSet, options: KidneyVolumeBundleOptions): StoredKidneyVolumes {
  return readKidneyVolumeBundle(serializeResource(buildKidneyVolumeBundle(facts, set, options)));
}
const LATER = new Date('2024-05-06T08:00:00.000Z');
const LATEST = new Date('2024-05-07T09:00:00.000Z');
const FIRST = stored(studyFacts(), KIDNEYS, { now: NOW });
/** KIDNEYS with the right kidney corrected from 125.0 to 130 mL. */
const CORRECTED = measurementSet([
  volume('Right Kidney', '130', { anatomy: 'right-kidney' }),
  volume('Left Kidney', '132', { anatomy: 'left-kidney' }),
  volume('Total Kidney Volume', '257.0', { anatomy: 'both-kidneys' }),
]);
/** KIDNEYS without the total. */
const WITHOUT_TOTAL = measurementSet([volume('Right Kidney', '125.0', { anatomy: 'right-kidney' }), volume('Left Kidney', '132', { anatomy: 'left-kidney' })]);

function resources<T extends Resource>(bundle: Bundle, type: T['resourceType']): T[] {
  return (bundle.entry ?? []).map((e) => e.resource).filter((r): r is T => r?.resourceType === type);
}
const patientOf = (b: Bundle): Patient => resources<Patient>(b, 'Patient')[0] as Patient;
const studyOf = (b: Bundle): ImagingStudy => resources<ImagingStudy>(b, 'ImagingStudy')[0] as ImagingStudy;
const observationsOf = (b: Bundle): Observation[] => resources<Observation>(b, 'Observation');

interface Variant {
  readonly facts: StudyFacts;
  readonly set: MeasurementSet;
  readonly options: KidneyVolumeBundleOptions;
}

/** Every shape of input the writer has a branch for. */
const VARIANTS: Record<string, Variant> = {
  'right, left and total kidney volumes': { facts: studyFacts(), set: KIDNEYS, options: { now: NOW } },
  'a named volume without anatomy and a spleen': {
    facts: studyFacts(),
    set: measurementSet([volume('Lesion 1', '3.25'), volume('Spleen', '210', { anatomy: 'spleen' }), volume('Liver', '1500.5', { anatomy: 'liver' })]),
    options: { now: NOW },
  },
  'a patient with no birth date and no sex': { facts: studyFacts({}, { birthDate: '', sex: '' }), set: KIDNEYS, options: { now: NOW } },
  'an anonymised birth date and no issuer': {
    facts: studyFacts({}, { birthDate: '00000000', issuerOfPatientId: undefined }),
    set: KIDNEYS,
    options: { now: NOW },
  },
  'a non-OID issuer': { facts: studyFacts({}, { issuerOfPatientId: 'St. Elsewhere | Radiology' }), set: KIDNEYS, options: { now: NOW } },
  'a study without StudyTime': { facts: studyFacts({ studyTime: '' }), set: KIDNEYS, options: { now: NOW, timeZone: 'Europe/Berlin' } },
  'a study without StudyDate': { facts: studyFacts({ studyDate: '', studyTime: '' }), set: KIDNEYS, options: { now: NOW } },
  'a study time in a known zone': { facts: studyFacts({ studyTime: '0930' }), set: KIDNEYS, options: { now: NOW, timeZone: '+0100' } },
  'a Japanese three-group name': {
    facts: studyFacts({}, { patientName: 'Yamada^Tarou=山田^太郎=やまだ^たろう', sex: 'M' }),
    set: KIDNEYS,
    options: { now: NOW, timeZone: 'Asia/Tokyo' },
  },
  'an empty patient name': { facts: studyFacts({}, { patientName: '', sex: 'O' }), set: KIDNEYS, options: { now: NOW } },
  'method, source and operator': {
    facts: studyFacts({ accessionNumber: '', studyDescription: '' }),
    set: measurementSet([
      volume('Right Kidney', '125.5', { anatomy: 'right-kidney', method: 'segmentation', source: 'TotalSegmentator 2.4', operator: 'Dr. Müller' }),
    ]),
    options: { now: NOW },
  },
  'with the SR instance': { facts: studyFacts(), set: KIDNEYS, options: { now: NOW, sr: SR } },
  // Issue 14: every status a later version writes.
  'a corrected version: one amended, two final kept': { facts: studyFacts(), set: CORRECTED, options: { now: LATER, previous: FIRST } },
  'a version that withdraws a measurement: entered-in-error': { facts: studyFacts(), set: WITHOUT_TOTAL, options: { now: LATER, previous: FIRST } },
  'a third version: the withdrawn one carried, one back as amended': { facts: studyFacts(), set: KIDNEYS, options: { now: LATEST, previous: stored(studyFacts(), WITHOUT_TOTAL, { now: LATER, previous: FIRST }) } },
};

describe('buildKidneyVolumeBundle output validates against the R4 StructureDefinitions', () => {
  // Indexing the R4 definitions takes a second or two: do it once, outside any test's time limit.
  beforeAll(() => loadFhirDefinitions(), 60_000);

  for (const [name, v] of Object.entries(VARIANTS)) {
    it(`${name}: the Bundle and each entry have no issues`, () => {
      const bundle = buildKidneyVolumeBundle(v.facts, v.set, v.options);
      const issues = validateFhirResource(bundle);
      expect(formatIssues(issues)).toBe('');
      for (const entry of bundle.entry ?? []) {
        expect(formatIssues(validateFhirResource(entry.resource as Resource)), entry.resource?.resourceType).toBe('');
      }
      // What is stored is what was validated.
      expect(JSON.parse(serializeResource(bundle))).toEqual(bundle);
    });
  }

  it('the validator is not vacuous: a missing status and a zone-less time are errors', () => {
    const obs = observationsOf(buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW }))[0] as Observation;
    const broken = { ...obs, status: undefined, effectiveDateTime: '2024-01-15T09:30:12' } as unknown as Observation;
    const text = formatIssues(validateFhirResource(broken));
    expect(text).toMatch(/error Observation.status: Missing required property/);
    expect(text).toMatch(/must have a time zone/);
  });
});

describe('the production self-check (structuralIssues) agrees with the full validator on our Bundles', () => {
  beforeAll(() => loadFhirDefinitions(), 60_000);
  const bundle = (): Bundle => buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW, sr: SR });

  for (const [name, v] of Object.entries(VARIANTS)) {
    it(`${name}: passes the self-check`, () => {
      expect(formatStructuralIssues(structuralIssues(buildKidneyVolumeBundle(v.facts, v.set, v.options)))).toBe('');
    });
  }

  /** Breakages a builder bug could cause: each must fail both the full validator and the self-check. */
  const BROKEN: Record<string, (b: Bundle) => void> = {
    'an Observation without status': (b) => delete (observationsOf(b)[0] as Partial<Observation>).status,
    'an ImagingStudy without subject': (b) => delete (studyOf(b) as Partial<ImagingStudy>).subject,
    'a zone-less dateTime': (b) => void ((observationsOf(b)[0] as Observation).effectiveDateTime = '2024-01-15T09:30:12'),
    'a Bundle without type': (b) => delete (b as Partial<Bundle>).type,
  };
  for (const [name, breakIt] of Object.entries(BROKEN)) {
    it(`${name}: rejected by both`, () => {
      const broken = bundle();
      breakIt(broken);
      expect(validateFhirResource(broken).filter((i) => i.severity === 'error')).not.toEqual([]);
      expect(structuralIssues(broken)).not.toEqual([]);
    });
  }

  // R4's JSON format forbids empty values (2.6.2); medplum lets them pass, the self-check does not.
  it('an empty string and an empty array are rejected by the self-check', () => {
    const broken = bundle();
    (studyOf(broken) as ImagingStudy).description = '';
    (observationsOf(broken)[0] as Observation).category = [];
    const text = formatStructuralIssues(structuralIssues(broken));
    expect(text).toMatch(/entry\[1\]\.resource\.description: empty values are not allowed/);
    expect(text).toMatch(/entry\[2\]\.resource\.category: empty values are not allowed/);
  });

  it('a reference to no entry and a repeated fullUrl are rejected by the self-check', () => {
    const broken = bundle();
    (observationsOf(broken)[0] as Observation).subject = { reference: 'urn:uuid:00000000-0000-4000-8000-000000000000' };
    (broken.entry as { fullUrl?: string }[])[3]!.fullUrl = broken.entry?.[2]?.fullUrl as string;
    const text = formatStructuralIssues(structuralIssues(broken));
    expect(text).toMatch(/subject\.reference: urn:uuid:00000000-0000-4000-8000-000000000000 is not the fullUrl of an entry/);
    expect(text).toMatch(/entry\[3\]\.fullUrl: .* appears twice/);
  });
});

describe('codes', () => {
  it('codes right, left and total with the verified SNOMED body structures', () => {
    const obs = observationsOf(buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW }));
    expect(obs.map((o) => o.bodySite)).toEqual([
      { coding: [{ system: SNOMED, code: '9846003', display: 'Right kidney structure' }] },
      { coding: [{ system: SNOMED, code: '18639004', display: 'Left kidney structure' }] },
      { coding: [{ system: SNOMED, code: '64033007', display: 'Kidney' }], text: 'Both kidneys' },
    ]);
    for (const o of obs) {
      expect(o.code).toEqual({ coding: [{ system: SNOMED, code: '118565006', display: 'Volume' }] });
      expect(o.category).toEqual([{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'imaging', display: 'Imaging' }] }]);
      expect(o.status).toBe('final');
    }
  });

  it('never writes 7771000 (laterality Left), a LOINC code or a placeholder patient, in any variant', () => {
    for (const v of Object.values(VARIANTS)) {
      const json = serializeResource(buildKidneyVolumeBundle(v.facts, v.set, v.options));
      expect(json).not.toContain('7771000');
      expect(json).not.toContain('loinc');
      expect(json).not.toContain('Patient/example');
    }
  });

  it('keeps the decimal precision of each volume in mL', () => {
    const bundle = buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW });
    expect(observationsOf(bundle)[0]?.valueQuantity).toEqual({ value: 125, unit: 'mL', system: 'http://unitsofmeasure.org', code: 'mL' });
    const json = serializeResource(bundle);
    expect(json).toContain('"valueQuantity":{"value":125.0,"unit":"mL"');
    expect(json).toContain('"value":132,');
    expect(json).not.toContain('\n');
  });

  it('lays the Bundle out for people like JSON.stringify does, keeping the precision', () => {
    const bundle = buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW });
    const pretty = serializeResource(bundle, { indent: 2 });
    expect(pretty.replace('"value": 125.0,', '"value": 125,').replace('"value": 257.0,', '"value": 257,')).toBe(JSON.stringify(bundle, null, 2));
    expect(pretty).toContain('"valueQuantity": {\n');
    expect(pretty).toContain('"value": 125.0,');
  });

  it('names a volume without anatomy by its tracking identifier and gives it no bodySite', () => {
    const v = VARIANTS['a named volume without anatomy and a spleen'] as Variant;
    const [lesion, spleen, liver] = observationsOf(buildKidneyVolumeBundle(v.facts, v.set, v.options));
    expect(lesion?.bodySite).toBeUndefined();
    expect(lesion?.identifier?.[1]).toEqual({
      type: { coding: [{ system: 'http://hl7.org/fhir/uv/dicom-sr/CodeSystem/dicom-identifier-type', code: 'tracking-id', display: 'Tracking ID' }] },
      value: 'Lesion 1',
    });
    expect(spleen?.bodySite?.coding?.[0]?.code).toBe('78961009');
    expect(liver?.bodySite?.coding?.[0]?.code).toBe('10200004');
  });
});

describe('patient', () => {
  it('writes identifier, name, birth date and sex from the study', () => {
    expect(patientOf(buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW }))).toEqual({
      resourceType: 'Patient',
      identifier: [{ system: 'urn:oid:1.2.3.4', value: 'PAT-001' }],
      name: [{ family: 'Doe', given: ['Jane', 'Q'], prefix: ['Dr'], suffix: ['III'] }],
      gender: 'female',
      birthDate: '1970-01-02',
    });
  });

  it('leaves out what the study does not say, without placeholders', () => {
    const v = VARIANTS['a patient with no birth date and no sex'] as Variant;
    const p = patientOf(buildKidneyVolumeBundle(v.facts, v.set, v.options));
    expect(p.birthDate).toBeUndefined();
    expect(p.gender).toBe('unknown');
    const anon = VARIANTS['an anonymised birth date and no issuer'] as Variant;
    const q = patientOf(buildKidneyVolumeBundle(anon.facts, anon.set, anon.options));
    expect(q.birthDate).toBeUndefined();
    expect(q.identifier).toEqual([{ system: 'urn:dicom:patient-id', value: 'PAT-001' }]);
    const empty = VARIANTS['an empty patient name'] as Variant;
    expect(patientOf(buildKidneyVolumeBundle(empty.facts, empty.set, empty.options)).name).toBeUndefined();
  });

  it('keeps a non-OID issuer apart in the system and readable as the assigner', () => {
    const v = VARIANTS['a non-OID issuer'] as Variant;
    expect(patientOf(buildKidneyVolumeBundle(v.facts, v.set, v.options)).identifier).toEqual([
      { system: 'urn:dicom:patient-id:St.%20Elsewhere%20%7C%20Radiology', value: 'PAT-001', assigner: { display: 'St. Elsewhere | Radiology' } },
    ]);
  });

  it('keeps the ideographic and phonetic groups of a Japanese name, in UTF-8', () => {
    const v = VARIANTS['a Japanese three-group name'] as Variant;
    const bundle = buildKidneyVolumeBundle(v.facts, v.set, v.options);
    const rep = (code: string) => [{ url: 'http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation', valueCode: code }];
    expect(patientOf(bundle).name).toEqual([
      { extension: rep('ABC'), family: 'Yamada', given: ['Tarou'] },
      { extension: rep('IDE'), text: '山田 太郎', family: '山田', given: ['太郎'] },
      { extension: rep('SYL'), text: 'やまだ たろう', family: 'やまだ', given: ['たろう'] },
    ]);
    const json = serializeResource(bundle);
    expect(json).toContain('山田');
    expect(Buffer.from(json, 'utf8').toString('utf8')).toBe(json);
  });

  it('refuses a study without PatientID rather than inventing a patient', () => {
    expect(() => buildKidneyVolumeBundle(studyFacts({}, { patientId: '  ' }), KIDNEYS, { now: NOW })).toThrow(FhirInputError);
  });
});

describe('dates', () => {
  const effective = (facts: StudyFacts, options: KidneyVolumeBundleOptions) =>
    observationsOf(buildKidneyVolumeBundle(facts, KIDNEYS, options)).map((o) => o.effectiveDateTime);

  it('writes date, time with fraction and the zone when the zone is known', () => {
    expect(effective(studyFacts(), { now: NOW, timeZone: 'Europe/Berlin' })[0]).toBe('2024-01-15T09:30:12.5+01:00');
    expect(effective(studyFacts({ studyDate: '20240715' }), { now: NOW, timeZone: 'Europe/Berlin' })[0]).toBe('2024-07-15T09:30:12.5+02:00');
    expect(effective(studyFacts({ studyTime: '0930' }), { now: NOW, timeZone: '+0100' })[0]).toBe('2024-01-15T09:30:00+01:00');
    expect(effective(studyFacts({ studyTime: '09' }), { now: NOW, timeZone: 'UTC' })[0]).toBe('2024-01-15T09:00:00Z');
    expect(effective(studyFacts({ studyTime: '09:30:12' }), { now: NOW, timeZone: '-05:00' })[0]).toBe('2024-01-15T09:30:12-05:00');
  });

  it('writes the date alone without a zone or without a StudyTime, and nothing without a StudyDate', () => {
    expect(effective(studyFacts(), { now: NOW })).toEqual(['2024-01-15', '2024-01-15', '2024-01-15']);
    expect(effective(studyFacts({ studyTime: '' }), { now: NOW, timeZone: 'Europe/Berlin' })[0]).toBe('2024-01-15');
    const v = VARIANTS['a study without StudyDate'] as Variant;
    const bundle = buildKidneyVolumeBundle(v.facts, v.set, v.options);
    expect(observationsOf(bundle)[0]).not.toHaveProperty('effectiveDateTime');
    expect(studyOf(bundle)).not.toHaveProperty('started');
  });

  it('sets issued to the clock reading and ImagingStudy.started to the study time', () => {
    const bundle = buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW, timeZone: '+01:00' });
    expect(observationsOf(bundle).map((o) => o.issued)).toEqual(Array(3).fill('2024-05-06T07:08:09.123Z'));
    expect(studyOf(bundle).started).toBe('2024-01-15T09:30:12.5+01:00');
  });

  it('rejects a malformed StudyDate, StudyTime or zone with the bad value in the message', () => {
    expect(() => buildKidneyVolumeBundle(studyFacts({ studyDate: '20240231' }), KIDNEYS, { now: NOW })).toThrow(/studyDate must be a DICOM DA.*"20240231"/);
    expect(() => buildKidneyVolumeBundle(studyFacts({ studyTime: '2561' }), KIDNEYS, { now: NOW, timeZone: 'Z' })).toThrow(/studyTime/);
    expect(() => buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW, timeZone: 'Mars/Olympus' })).toThrow(/timeZone/);
  });
});

describe('ImagingStudy and links', () => {
  it('identifies the study by its UID and lists the SR only when given', () => {
    const without = studyOf(buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW }));
    expect(without.identifier?.[0]).toEqual({ system: 'urn:dicom:uid', value: `urn:oid:${STUDY_UID}` });
    expect(without.identifier?.[1]?.value).toBe('ACC-42');
    expect(without.status).toBe('available');
    expect(without.series).toBeUndefined();
    const withSr = studyOf(buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW, sr: SR }));
    expect(withSr.series).toEqual([
      {
        uid: SR.seriesInstanceUid,
        modality: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'SR', display: 'SR Document' },
        numberOfInstances: 1,
        instance: [{ uid: SR.sopInstanceUid, sopClass: { system: 'urn:ietf:rfc:3986', code: `urn:oid:${SR.sopClassUid}` } }],
      },
    ]);
  });

  it('links every Observation to the Patient and the ImagingStudy by fullUrl', () => {
    const bundle = buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW });
    const [patient, study] = bundle.entry ?? [];
    expect(bundle.type).toBe('collection');
    expect(studyOf(bundle).subject.reference).toBe(patient?.fullUrl);
    for (const o of observationsOf(bundle)) {
      expect(o.subject?.reference).toBe(patient?.fullUrl);
      expect(o.derivedFrom).toEqual([{ reference: study?.fullUrl }]);
    }
    for (const e of bundle.entry ?? []) expect(e.fullUrl).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('writes method, source and operator', () => {
    const v = VARIANTS['method, source and operator'] as Variant;
    const [o] = observationsOf(buildKidneyVolumeBundle(v.facts, v.set, v.options));
    expect(o?.method).toEqual({ text: 'segmentation' });
    expect(o?.device).toEqual({ display: 'TotalSegmentator 2.4' });
    expect(o?.performer).toEqual([{ display: 'Dr. Müller' }]);
  });
});

describe('stable identities', () => {
  const ids = (b: Bundle) => ({
    fullUrls: (b.entry ?? []).map((e) => e.fullUrl),
    identifiers: (b.entry ?? []).map((e) => (e.resource as { identifier?: unknown }).identifier),
    bundle: b.identifier,
  });

  it('gives the same Bundle for the same input, except the clock reading (issued, timestamp)', () => {
    const a = buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW });
    const b = buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: new Date('2030-01-01T00:00:00Z') });
    expect(ids(b)).toEqual(ids(a));
    const withoutClock = (x: Bundle) => serializeResource(x).replace(/"(issued|timestamp)":"[^"]*"/g, '');
    expect(withoutClock(b)).toBe(withoutClock(a));
  });

  it('issue 14: keeps every Observation identity when a value changes; only the Bundle identifier is per version', () => {
    const changed = measurementSet([
      volume('Right Kidney', '126.0', { anatomy: 'right-kidney' }),
      volume('Left Kidney', '132', { anatomy: 'left-kidney' }),
      volume('Total Kidney Volume', '258.0', { anatomy: 'both-kidneys' }),
    ]);
    const a = ids(buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW }));
    const b = ids(buildKidneyVolumeBundle(studyFacts(), changed, { now: NOW }));
    // Even without the previous version: the identity is the study and the measured structure.
    expect(b.fullUrls).toEqual(a.fullUrls);
    expect(b.identifiers).toEqual(a.identifiers);
    expect(b.bundle).not.toEqual(a.bundle);
  });

  it('gives different identities to the same measurements in another study', () => {
    const a = ids(buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW }));
    const b = ids(buildKidneyVolumeBundle(studyFacts({ studyInstanceUid: '1.2.3.999' }), KIDNEYS, { now: NOW }));
    expect(b.fullUrls[0]).toBe(a.fullUrls[0]); // same patient
    expect(b.fullUrls.slice(1).some((u) => a.fullUrls.includes(u))).toBe(false);
  });
});

describe('issue 14: a new version of the measurements, built from the stored previous one', () => {
  const statusOf = (b: Bundle) => observationsOf(b).map((o) => [o.identifier?.[1]?.value, o.status, o.issued, o.valueQuantity?.value]);

  it('a changed value is amended with a new issued; unchanged ones keep final and their first issued; identifiers and fullUrls stay', () => {
    const first = buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW });
    const second = buildKidneyVolumeBundle(studyFacts(), CORRECTED, { now: LATER, previous: FIRST });
    expect(statusOf(second)).toEqual([
      ['Right Kidney', 'amended', LATER.toISOString(), 130],
      ['Left Kidney', 'final', NOW.toISOString(), 132],
      ['Total Kidney Volume', 'final', NOW.toISOString(), 257],
    ]);
    expect(second.timestamp).toBe(LATER.toISOString());
    expect(second.entry?.map((e) => e.fullUrl)).toEqual(first.entry?.map((e) => e.fullUrl));
    expect(observationsOf(second).map((o) => o.identifier)).toEqual(observationsOf(first).map((o) => o.identifier));
    expect(second.identifier).not.toEqual(first.identifier);
  });

  it('a measurement the new version lacks stays in the Bundle as entered-in-error, with its last value and the version time', () => {
    const second = buildKidneyVolumeBundle(studyFacts(), WITHOUT_TOTAL, { now: LATER, previous: FIRST });
    expect(statusOf(second)).toEqual([
      ['Right Kidney', 'final', NOW.toISOString(), 125],
      ['Left Kidney', 'final', NOW.toISOString(), 132],
      ['Total Kidney Volume', 'entered-in-error', LATER.toISOString(), 257],
    ]);
    const read = readKidneyVolumeBundle(serializeResource(second));
    expect(read.observations.map((o) => o.name)).toEqual(['Right Kidney', 'Left Kidney']);
    expect(read.all.map((o) => o.status)).toEqual(['final', 'final', 'entered-in-error']);
  });

  it('a later version carries a withdrawn Observation as it was, and one that comes back is amended in its old place', () => {
    const second = stored(studyFacts(), WITHOUT_TOTAL, { now: LATER, previous: FIRST });
    const third = buildKidneyVolumeBundle(studyFacts(), measurementSet([volume('Right Kidney', '125.0', { anatomy: 'right-kidney' })]), { now: LATEST, previous: second });
    expect(statusOf(third)).toEqual([
      ['Right Kidney', 'final', NOW.toISOString(), 125],
      ['Left Kidney', 'entered-in-error', LATEST.toISOString(), 132],
      ['Total Kidney Volume', 'entered-in-error', LATER.toISOString(), 257],
    ]);
    const back = buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: LATEST, previous: second });
    expect(statusOf(back)[2]).toEqual(['Total Kidney Volume', 'amended', LATEST.toISOString(), 257]);
  });

  it('an amended Observation left alone by the next version stays amended with its issued', () => {
    const second = stored(studyFacts(), CORRECTED, { now: LATER, previous: FIRST });
    const leftChanged = measurementSet([
      volume('Right Kidney', '130', { anatomy: 'right-kidney' }),
      volume('Left Kidney', '140', { anatomy: 'left-kidney' }),
      volume('Total Kidney Volume', '257.0', { anatomy: 'both-kidneys' }),
    ]);
    const third = buildKidneyVolumeBundle(studyFacts(), leftChanged, { now: LATEST, previous: second });
    expect(statusOf(third).slice(0, 2)).toEqual([
      ['Right Kidney', 'amended', LATER.toISOString(), 130],
      ['Left Kidney', 'amended', LATEST.toISOString(), 140],
    ]);
  });

  it('the same set over its own stored Bundle comes out as stored (a re-run, a retry): same statuses, issued and timestamp', () => {
    const second = buildKidneyVolumeBundle(studyFacts(), CORRECTED, { now: LATER, previous: FIRST });
    const again = buildKidneyVolumeBundle(studyFacts(), CORRECTED, { now: LATEST, previous: readKidneyVolumeBundle(serializeResource(second)) });
    expect(serializeResource(again)).toBe(serializeResource(second));
  });

  it('a new name for the same anatomy is the same Observation; a method change amends it', () => {
    const renamed = measurementSet([
      volume('right', '125.0', { anatomy: 'right-kidney', method: 'manual contouring' }),
      volume('Left Kidney', '132', { anatomy: 'left-kidney' }),
      volume('Total Kidney Volume', '257.0', { anatomy: 'both-kidneys' }),
    ]);
    const second = buildKidneyVolumeBundle(studyFacts(), renamed, { now: LATER, previous: FIRST });
    expect(observationsOf(second)[0]?.identifier?.[0]).toEqual(observationsOf(buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW }))[0]?.identifier?.[0]);
    expect(statusOf(second)[0]).toEqual(['right', 'amended', LATER.toISOString(), 125]);
  });

  it('keeps the identifier a Bundle from before structure keys gave an Observation (upgrade), so the server updates that resource', () => {
    const legacyId = '0f0f0f0f-0000-8000-8000-000000000001';
    const json = serializeResource(buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW }));
    const firstUrl = observationsOf(JSON.parse(json) as Bundle)[0]?.identifier?.[0]?.value as string;
    const legacy = readKidneyVolumeBundle(json.split(firstUrl).join(legacyId).replace(/"timestamp":"[^"]*",/, ''));
    expect(legacy.timestamp).toBeUndefined();
    const second = buildKidneyVolumeBundle(studyFacts(), CORRECTED, { now: LATER, previous: legacy });
    const [right] = observationsOf(second);
    expect(right?.identifier?.[0]?.value).toBe(legacyId);
    expect(second.entry?.[2]?.fullUrl).toBe(`urn:uuid:${legacyId}`);
    expect(right?.status).toBe('amended');
    expect(formatStructuralIssues(structuralIssues(second))).toBe('');
  });
});

describe('the samples the README links', () => {
  beforeAll(() => loadFhirDefinitions(), 60_000);
  it.each(['docs/sample-bundle.json', 'docs/sample-bundle-corrected.json'])('%s is valid R4 and readable by the reader', (file) => {
    const text = readFileSync(join(import.meta.dirname, '../..', file), 'utf8');
    expect(formatIssues(validateFhirResource(JSON.parse(text) as Bundle))).toBe('');
    expect(readKidneyVolumeBundle(text).observations.length).toBeGreaterThan(0);
  });
});
