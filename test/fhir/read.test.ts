import { describe, expect, it } from 'vitest';
import { buildKidneyVolumeBundle } from '../../src/fhir/bundle.js';
import { FhirBundleReadError } from '../../src/fhir/errors.js';
import { readKidneyVolumeBundle } from '../../src/fhir/read.js';
import { serializeResource } from '../../src/fhir/serialize.js';
import { KIDNEYS, NOW, SR, STUDY_UID, measurementSet, studyFacts, volume } from './fixtures.js';

const stored = (sr = false) => serializeResource(buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW, ...(sr ? { sr: SR } : {}) }));

describe('readKidneyVolumeBundle', () => {
  it('reads back what was written: names, volumes and anatomy', () => {
    for (const json of [stored(), stored(true)]) {
      const read = readKidneyVolumeBundle(json);
      expect(read.studyInstanceUid).toBe(STUDY_UID);
      expect(read.timestamp).toBe(NOW.toISOString());
      expect(read.bundleIdentifier).toMatch(/^[0-9a-f-]{36}$/);
      expect(read.observations.map(({ name, volumeMl, anatomy, bodySiteCode }) => ({ name, volumeMl, anatomy, bodySiteCode }))).toEqual([
        { name: 'Right Kidney', volumeMl: 125, anatomy: 'right-kidney', bodySiteCode: '9846003' },
        { name: 'Left Kidney', volumeMl: 132, anatomy: 'left-kidney', bodySiteCode: '18639004' },
        { name: 'Total Kidney Volume', volumeMl: 257, anatomy: 'both-kidneys', bodySiteCode: '64033007' },
      ]);
    }
  });

  it('reads a named volume without anatomy and a non-Latin name', () => {
    const set = measurementSet([volume('腎嚢胞 1', '12.75')]);
    const json = serializeResource(buildKidneyVolumeBundle(studyFacts(), set, { now: NOW }));
    expect(readKidneyVolumeBundle(json).observations).toEqual([
      {
        name: '腎嚢胞 1',
        volumeMl: 12.75,
        anatomy: undefined,
        bodySiteCode: undefined,
        identifier: expect.stringMatching(/^[0-9a-f-]{36}$/),
        status: 'final',
        issued: NOW.toISOString(),
        observation: expect.objectContaining({ resourceType: 'Observation' }),
      },
    ]);
  });

  it('refuses a Bundle whose left kidney was coded as the laterality Left (7771000)', () => {
    const json = stored().replace('"18639004"', '"7771000"');
    expect(() => readKidneyVolumeBundle(json)).toThrow(/bodySite 7771000 is not a site this project writes/);
  });

  it('refuses broken bundles, naming the problem', () => {
    const cases: [string, RegExp][] = [
      ['{not json', /not JSON/],
      ['{"resourceType":"Bundle","type":"transaction","entry":[]}', /expected a collection Bundle/],
      [stored().replace(/"resourceType":"Patient"/, '"resourceType":"Group"'), /exactly one Patient, found 0/],
      [stored().replace(/"status":"final"/, '"status":"preliminary"'), /status must be one of final, amended, entered-in-error, got "preliminary"/],
      [stored().replace(/"status":"final"/g, '"status":"entered-in-error"'), /no current Observation/],
      [stored().replace(/"code":"mL"\}/, '"code":"cm3"}'), /valueQuantity must be a positive UCUM mL/],
      [stored().replace(/"118565006"/, '"33747-0"'), /code must be SNOMED 118565006/],
      [stored().replace(/"derivedFrom":\[\{"reference":"[^"]+"\}\]/, '"derivedFrom":[{"reference":"ImagingStudy/other"}]'), /derivedFrom the ImagingStudy/],
    ];
    for (const [json, message] of cases) {
      expect(() => readKidneyVolumeBundle(json)).toThrow(FhirBundleReadError);
      expect(() => readKidneyVolumeBundle(json)).toThrow(message);
    }
  });
});
