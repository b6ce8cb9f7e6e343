/**
 * The SR of an ultrasound volume (issue 16, part 3): the kidney's measurement group holds length,
 * width and depth (CID 7470) and the volume coded "Volume of ellipsoid" (CID 7472). Built, encoded,
 * checked by dciodvfy, dsrdump and PixelMed's TID 1500 validator, and read back.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { decodePart10, type NaturalDataset } from '../../src/dicom/part10.js';
import { encodeMeasurementReport } from '../../src/dicom/sr/document.js';
import { readMeasurementReport } from '../../src/dicom/sr/read.js';
import { parseMeasurementsObject } from '../../src/measurements/parse.js';
import { series, study } from '../dicom/sr-fixtures.js';
import { dciodvfy, dsrdump, pixelmedSrValidator, type ValidatorReport } from '../dicom/validators.js';

const US_IMAGE = '1.2.840.10008.5.1.4.1.1.6.1';
const FACTS = study('1.2.826.0.1.3680043.10.1526.600', 'Doe^Jane', [series('1.2.826.0.1.3680043.10.1526.600.1', 'US', US_IMAGE, 2)]);
const SET = parseMeasurementsObject({
  'Right Kidney': { length: '11.2 cm', width: '5.1 cm', depth: '4.8 cm' },
  'Left Kidney': { length: '108 mm', width: '51.0 mm', depth: '46.5 mm' },
  Spleen: '180 ml',
});

let dataset: NaturalDataset;
let reports: { iod: ValidatorReport; dump: ValidatorReport; pixelmed: ValidatorReport };

beforeAll(async () => {
  const built = encodeMeasurementReport({ facts: FACTS, measurements: SET, now: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), timeZone: 'UTC' });
  const file = join(mkdtempSync(join(tmpdir(), 'kv-us-sr-')), 'sr.dcm');
  writeFileSync(file, built.bytes);
  dataset = decodePart10(built.bytes).dataset;
  const [iod, dump, pixelmed] = await Promise.all([dciodvfy(file), dsrdump(file), pixelmedSrValidator(file)]);
  reports = { iod, dump, pixelmed };
}, 60_000);

const codes = (item: NaturalDataset): string => {
  const c = (item['ConceptNameCodeSequence'] as NaturalDataset[])[0] as NaturalDataset;
  const m = (item['MeasuredValueSequence'] as NaturalDataset[] | undefined)?.[0];
  const unit = m ? ((m['MeasurementUnitsCodeSequence'] as NaturalDataset[])[0] as NaturalDataset)['CodeValue'] : '';
  return `${String(c['CodeValue'])},${String(c['CodingSchemeDesignator'])} ${String(m?.['NumericValue'] ?? '')} ${String(unit)}`.trim();
};

describe('an SR with ultrasound diameters', () => {
  test('the right kidney group holds length, width, depth in cm and the volume of ellipsoid in mL', () => {
    const imaging = (dataset['ContentSequence'] as NaturalDataset[]).find((i) => i['ValueType'] === 'CONTAINER') as NaturalDataset;
    const [right, left, spleen] = imaging['ContentSequence'] as NaturalDataset[];
    const nums = (g: NaturalDataset | undefined): string[] => ((g?.['ContentSequence'] ?? []) as NaturalDataset[]).filter((i) => i['ValueType'] === 'NUM').map(codes);
    expect(nums(right)).toEqual(['410668003,SCT 11.2 cm', '103355008,SCT 5.1 cm', '131197000,SCT 4.8 cm', '121221,DCM 140 mL']);
    expect(nums(left)).toEqual(['410668003,SCT 108 mm', '103355008,SCT 51 mm', '131197000,SCT 46.5 mm', '121221,DCM 134 mL']);
    // A volume given directly keeps its "Volume" concept and nothing else.
    expect(nums(spleen)).toEqual(['118565006,SCT 180 mL']);
  });

  test('dciodvfy, dsrdump and PixelMed find no error and no warning', () => {
    expect(reports.iod.errors).toEqual([]);
    expect(reports.iod.warnings).toEqual([]);
    expect(reports.dump.exitCode).toBe(0);
    expect(reports.dump.errors).toEqual([]);
    expect(reports.pixelmed.output).toContain('Found Root Template TID_1500 (MeasurementReport)');
    expect([...reports.pixelmed.errors, ...reports.pixelmed.warnings]).toEqual([]);
  });

  test('reads back as ellipsoid estimates with their diameters', () => {
    const read = readMeasurementReport(dataset);
    expect(read.map((m) => [m.name, Number(m.valueMl), m.ellipsoid])).toEqual([['Right Kidney', 140, true], ['Left Kidney', 134, true], ['Spleen', 180, false]]);
    expect(read[1]?.diameters).toEqual({ length: { value: '108', unit: 'mm' }, width: { value: '51', unit: 'mm' }, depth: { value: '46.5', unit: 'mm' } });
    expect(read[2]?.diameters).toBeUndefined();
  });
});
