// Our Part-10 writer (src/dicom/part10-writer.ts) must give byte for byte what dcmjs's writer
// gives: every Measurement Report the builder can make, whatever the study's texts (property
// test with fast-check, fixed seed, and a bounded run), and anything it does not cover goes to
// dcmjs (the same bytes, or dcmjs's own error).
import dcmjs from 'dcmjs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { encodePart10, IMPLEMENTATION, TransferSyntax, type NaturalDataset } from '../../src/dicom/part10.js';
import { writeExplicitLittleEndian } from '../../src/dicom/part10-writer.js';
import { buildMeasurementReport } from '../../src/dicom/sr/document.js';
import { buildSet, type MeasurementInput } from '../../src/measurements/parse.js';
import { series, SopClass, study } from './sr-fixtures.js';

const { DicomDict, DicomMetaDictionary } = dcmjs.data;

/** What dcmjs alone writes for the dataset: the reference. */
function dcmjsBytes(dataset: NaturalDataset): Buffer {
  const meta = DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: dataset['SOPClassUID'],
    MediaStorageSOPInstanceUID: dataset['SOPInstanceUID'],
    TransferSyntaxUID: TransferSyntax.ExplicitVRLittleEndian,
    ImplementationClassUID: IMPLEMENTATION.classUid,
    ImplementationVersionName: IMPLEMENTATION.versionName,
  });
  const dict = new DicomDict(meta);
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return Buffer.from(dict.write());
}

/** Whether our writer, not the fallback, wrote the dataset. */
function oursCovers(dataset: NaturalDataset): boolean {
  const meta = DicomMetaDictionary.denaturalizeDataset({ FileMetaInformationVersion: new Uint8Array([0, 1]).buffer, TransferSyntaxUID: TransferSyntax.ExplicitVRLittleEndian });
  return writeExplicitLittleEndian(meta, DicomMetaDictionary.denaturalizeDataset(dataset)) !== undefined;
}

const NOW = new Date(2024, 4, 7, 8, 9, 10);
const KIDNEYS: MeasurementInput[] = [
  { name: 'Right Kidney', value: '125 mL' },
  { name: 'Left Kidney', value: '132.25 mL' },
];

function report(patientName: string, volumes: readonly MeasurementInput[] = KIDNEYS): NaturalDataset {
  const facts = study('1.2.826.0.1.3680043.10.1526.99.1', patientName, [series('1.2.826.0.1.3680043.10.1526.99.1.1', 'CT', SopClass.CTImage, 3)]);
  return buildMeasurementReport({ facts, measurements: buildSet(volumes), now: NOW, timeZone: '+0100' }).dataset;
}

describe('Part-10 writer', () => {
  test('writes a Measurement Report byte for byte as dcmjs does, and covers it', () => {
    const dataset = report('Doe^Jane');
    expect(oursCovers(dataset)).toBe(true);
    expect(encodePart10(dataset).equals(dcmjsBytes(dataset))).toBe(true);
  });

  test('the same for names and values in other scripts, a name group over 64 characters, an ellipsoid and many volumes', () => {
    const cases: NaturalDataset[] = [
      report('山田^太郎=ヤマダ^タロウ'),
      report('Müller^Zoë'),
      // A component group over 64 characters: dcmjs refuses it, and so must encodePart10 (it falls back to dcmjs).
      report('Doe'.repeat(30)),
      report('Doe^Jane', [{ name: 'Right Kidney', diameters: '11.2x5.1x4.8 cm' }, { name: 'Cyst 1', value: '0.5 mL' }, { name: 'Total Volume', value: '257 mL' }]),
    ];
    for (const dataset of cases) {
      const reference = (() => {
        try {
          return dcmjsBytes(dataset);
        } catch (error) {
          return error as Error;
        }
      })();
      if (reference instanceof Error) expect(() => encodePart10(dataset)).toThrow(reference.message);
      else expect(encodePart10(dataset).equals(reference)).toBe(true);
    }
  });

  test('leaves to dcmjs what it does not cover (other VRs, long values), with the same bytes', () => {
    const base = report('Doe^Jane');
    const others: NaturalDataset[] = [
      { ...base, Rows: 512, Columns: 512 },
      { ...base, SliceThickness: '1.2345678901234567' },
      { ...base, ImageType: ['DERIVED', 'SECONDARY'] },
    ];
    for (const dataset of others) expect(encodePart10(dataset).equals(dcmjsBytes(dataset))).toBe(true);
    expect(oursCovers(others[0] as NaturalDataset)).toBe(false);
  });

  test('property: every report of random names, texts and volumes is written as dcmjs writes it', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'Z', ' ', '^', '=', '-', '.', 'é', 'ß', '山', '田', '\u00a0', '1'), maxLength: 80 });
    const volume = fc.record({
      name: fc.constantFrom('Right Kidney', 'Left Kidney', 'Total Volume', 'Cyst 1', 'Spleen', 'Liver lesion'),
      value: fc.tuple(fc.integer({ min: 0, max: 99999 }), fc.integer({ min: 0, max: 9999 })).map(([a, b]) => `${a}.${b} mL`),
    });
    fc.assert(
      fc.property(text, fc.uniqueArray(volume, { minLength: 1, maxLength: 6, selector: (v) => v.name }), text, (name, volumes, description) => {
        const facts = { ...study('1.2.826.0.1.3680043.10.1526.99.2', name, [series('1.2.826.0.1.3680043.10.1526.99.2.1', 'MR', SopClass.MRImage, 2)]), studyDescription: description };
        let dataset: NaturalDataset;
        try {
          dataset = buildMeasurementReport({ facts, measurements: buildSet(volumes), now: NOW }).dataset;
        } catch {
          return; // measurements the parser refuses are not the writer's concern
        }
        let reference: Buffer | Error;
        try {
          reference = dcmjsBytes(dataset);
        } catch (error) {
          reference = error as Error;
        }
        if (reference instanceof Error) expect(() => encodePart10(dataset)).toThrow();
        else expect(encodePart10(dataset).equals(reference)).toBe(true);
      }),
      { seed: 17, numRuns: 300 },
    );
  });
});
