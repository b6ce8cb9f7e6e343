import { describe, expect, test } from 'vitest';
import type { NaturalDataset } from '../../src/dicom/part10.js';
import { toDecimalString } from '../../src/dicom/sr/content-items.js';
import { buildMeasurementReport, isReportFollowing, SrSopClass, type MeasurementReportInput } from '../../src/dicom/sr/document.js';
import { MeasurementReportReadError, readMeasurementReport } from '../../src/dicom/sr/read.js';
import { measurementSet, series, SopClass, study, volume } from './sr-fixtures.js';

const FACTS = study('1.2.826.0.1.3680043.10.1526.500', 'Doe^John', [
  series('1.2.826.0.1.3680043.10.1526.500.1', 'CT', SopClass.CTImage, 2),
]);
const KIDNEYS = measurementSet(volume('Right Kidney', '125', 'right-kidney'), volume('Left Kidney', '132', 'left-kidney'));

function input(overrides: Partial<MeasurementReportInput> = {}): MeasurementReportInput {
  return { facts: FACTS, measurements: KIDNEYS, now: new Date(2024, 0, 2, 3, 4, 5), ...overrides };
}

function uidsOf(report: ReturnType<typeof buildMeasurementReport>): string[] {
  const tracking = readMeasurementReport(report.dataset).map((m) => m.trackingUid ?? '');
  return [report.sopInstanceUid, report.seriesInstanceUid, ...tracking];
}

describe('SR UIDs recognise our own report', () => {
  test('the same study and measurements give the same UIDs, whenever they are written', () => {
    const first = buildMeasurementReport(input());
    const later = buildMeasurementReport(input({ now: new Date(2025, 5, 6, 7, 8, 9) }));
    expect(uidsOf(later)).toEqual(uidsOf(first));
  });

  test('another study or another root gives new UIDs', () => {
    const first = uidsOf(buildMeasurementReport(input()));
    const otherStudy = study('1.2.826.0.1.3680043.10.1526.501', 'Doe^John', FACTS.series);
    for (const other of [input({ facts: otherStudy }), input({ options: { uidRoot: '1.2.826.0.1.3680043.10.1526' } })]) {
      const uids = uidsOf(buildMeasurementReport(other));
      expect(uids.filter((uid) => first.includes(uid))).toEqual([]);
    }
  });

  test('issue 14: a changed value gives a new report and series; the Tracking UIDs stay with the structures', () => {
    const [sop, series, ...tracking] = uidsOf(buildMeasurementReport(input()));
    const changed = measurementSet(volume('Right Kidney', '125.1', 'right-kidney'), volume('Left Kidney', '132', 'left-kidney'));
    const [sop2, series2, ...tracking2] = uidsOf(buildMeasurementReport(input({ measurements: changed })));
    expect([sop2, series2].filter((uid) => uid === sop || uid === series)).toEqual([]);
    expect(tracking2).toEqual(tracking);
    expect(new Set(tracking).size).toBe(2);
    // Renamed, the right kidney is still the right kidney (its anatomy); a named volume is tracked by its name.
    const renamed = measurementSet(volume('right kidney 2nd read', '130', 'right-kidney'), volume('Cyst 1', '12', undefined));
    const [, , right, cyst] = uidsOf(buildMeasurementReport(input({ measurements: renamed })));
    expect(right).toBe(tracking[0]);
    expect(cyst).not.toBe(tracking[1]);
  });

  test('issue 14: the same measurements after earlier reports give another report (a return to earlier values); the same earlier reports the same one', () => {
    const first = buildMeasurementReport(input());
    const earlier = [{ seriesInstanceUid: '1.2.3.4', sopInstanceUid: '1.2.3.4.5', sopClassUid: SrSopClass.EnhancedSR }];
    const again = buildMeasurementReport(input({ options: { predecessors: earlier } }));
    expect(again.sopInstanceUid).not.toBe(first.sopInstanceUid);
    expect(again.seriesInstanceUid).not.toBe(first.seriesInstanceUid);
    expect(buildMeasurementReport(input({ now: new Date(2030, 0, 1), options: { predecessors: earlier } })).sopInstanceUid).toBe(again.sopInstanceUid);
    expect(isReportFollowing({ ...earlier[0]!, sopInstanceUid: again.sopInstanceUid, seriesInstanceUid: again.seriesInstanceUid }, [...earlier, { ...earlier[0]!, sopInstanceUid: again.sopInstanceUid }], FACTS, KIDNEYS.digest)).toBe(true);
    expect(isReportFollowing({ ...earlier[0]!, sopInstanceUid: first.sopInstanceUid }, [...earlier, { ...earlier[0]!, sopInstanceUid: first.sopInstanceUid }], FACTS, KIDNEYS.digest)).toBe(false);
  });

  test('UIDs sit under the configured root and stay within 64 characters', () => {
    const report = buildMeasurementReport(input({ options: { uidRoot: '1.2.826.0.1.3680043.10.1526' } }));
    for (const uid of uidsOf(report)) {
      expect(uid).toMatch(/^1\.2\.826\.0\.1\.3680043\.10\.1526\.[1-9]\d*$/);
      expect(uid.length).toBeLessThanOrEqual(64);
    }
    expect(new Set(uidsOf(report)).size).toBe(4);
  });
});

describe('SR document options', () => {
  test('series number, device name, manufacturer and version are configurable', () => {
    const { dataset } = buildMeasurementReport(
      input({ options: { seriesNumber: 42, deviceName: 'kv-test', manufacturer: 'Example Hospital', version: '9.9.9' } }),
    );
    expect(dataset).toMatchObject({ SeriesNumber: 42, Manufacturer: 'Example Hospital', ManufacturerModelName: 'kv-test', SoftwareVersions: '9.9.9' });
    const texts = (dataset.ContentSequence as NaturalDataset[]).map((item) => item.TextValue).filter(Boolean);
    expect(texts).toEqual(['kv-test', 'Example Hospital', 'kv-test']);
  });

  test('the measurement digest is readable in ProtocolName', () => {
    const { dataset } = buildMeasurementReport(input());
    expect(dataset.ProtocolName).toBe(`measurements sha256 ${KIDNEYS.digest.slice(0, 32)}`);
  });
});

describe('SR numeric values keep every digit', () => {
  test('a decimal that fits DS is written exactly as given', () => {
    expect(toDecimalString('125.50')).toBe('125.50');
    expect(toDecimalString('3.14159265358979')).toBe('3.14159265358979');
  });

  test('a long decimal with leading zeros moves to exponent form with the same significant digits', () => {
    expect(toDecimalString('0.000000000001250')).toBe('1.250E-12');
  });

  test('a value that cannot fit 16 characters without rounding is refused with a clear message', () => {
    expect(() => toDecimalString('123.4567890123456789')).toThrow(
      'a numeric value must fit in 16 characters as DICOM DS without rounding, got "123.4567890123456789" (20 characters)',
    );
    const tooLong = measurementSet(volume('Right Kidney', '125.00000000000001', 'right-kidney'));
    expect(() => buildMeasurementReport(input({ measurements: tooLong }))).toThrow(/without rounding, got "125.00000000000001"/);
  });

  test('a value that is not a plain decimal is refused', () => {
    expect(() => toDecimalString('12,5')).toThrow('a numeric value must be a plain decimal like "125.5", got "12,5"');
  });
});

describe('SR reader', () => {
  test('reads both kidneys as Kidney with laterality Bilateral', () => {
    const both = measurementSet(volume('Total', '257', 'both-kidneys'));
    const [read] = readMeasurementReport(buildMeasurementReport(input({ measurements: both })).dataset);
    expect(read).toMatchObject({
      name: 'Total',
      anatomy: 'both-kidneys',
      findingSite: { value: '64033007', scheme: 'SCT' },
      laterality: { value: '51440002', scheme: 'SCT' },
    });
  });

  test('refuses a dataset that is not a Measurement Report, naming the content item', () => {
    const notAReport = { ...buildMeasurementReport(input()).dataset, ConceptNameCodeSequence: [] };
    expect(() => readMeasurementReport(notAReport)).toThrow(MeasurementReportReadError);
    expect(() => readMeasurementReport(notAReport)).toThrow(/as document root, got CONTAINER "" \(content item 1\)/);
  });
});
