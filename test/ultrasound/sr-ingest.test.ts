/**
 * An ultrasound report with a kidney's diameters and no volume (issue 16, part 3): the reader gives
 * the ellipsoid estimate through the measurement parser, whatever the report's structure; what it
 * cannot read for certain (a diameter missing, inches, two different lengths) it reports.
 */
import { describe, expect, it } from 'vitest';
import { decodePart10 } from '../../src/dicom/part10.js';
import { readVendorSr, type VendorSrReading } from '../../src/dicom/sr/ingest.js';
import { ownDeviceObserverUids } from '../../src/inputs/settings.js';
import { vendorSrSource } from '../../src/inputs/vendor-sr.js';
import { uid, part10 } from '../fixtures/vendor-sr.js';
import { ultrasoundSrDataset, type UsKidney } from '../fixtures/ultrasound-sr.js';

const OWN = { deviceObserverUids: ownDeviceObserverUids(undefined) };
const PLACE = { orthancInstanceId: 'i', orthancSeriesId: 's' };
const RIGHT: UsKidney = { side: 'right', length: '112', width: '51', depth: '48', unit: 'mm', siteOn: 'group' };
const LEFT: UsKidney = { side: 'left', length: '10.8', width: '5.10', depth: '4.65', unit: 'cm', siteOn: 'num' };

/** The report as a real reader gets it: written by dcmjs and read back (DS values become numbers). */
function read(kidneys: readonly UsKidney[]): VendorSrReading {
  const bytes = part10(ultrasoundSrDataset({ studyInstanceUid: uid(), patientId: 'P1', kidneys }));
  return readVendorSr(decodePart10(bytes).dataset, OWN);
}

describe('an ultrasound report with diameters only', () => {
  it('gives each kidney the ellipsoid volume of its diameters, Kidney + laterality on the group or pre-coordinated on the NUMs', () => {
    const reading = read([RIGHT, LEFT]);
    expect(reading.kind).toBe('volumes');
    if (reading.kind !== 'volumes') return;
    expect(reading.volumes.map((v) => [v.anatomy, v.value, v.unit, v.concept.value, v.diameters])).toEqual([
      // 51 and 48 have two significant digits, so the product has two.
      ['right-kidney', '140', 'mL', '121221', { length: '112 mm', width: '51 mm', depth: '48 mm' }],
      // dcmjs reads DS as numbers: "5.10" comes back as 5.1 (two significant digits), so 130, not 134.
      ['left-kidney', '130', 'mL', '121221', { length: '10.8 cm', width: '5.1 cm', depth: '4.65 cm' }],
    ]);
    const source = vendorSrSource(reading, PLACE);
    expect(source.kind).toBe('mark');
    if (source.kind !== 'mark') return;
    expect(source.mark.set.measurements.map((m) => [m.name, m.valueMl, m.anatomy, m.method, m.diameters?.length])).toEqual([
      ['Right Kidney', '140', 'right-kidney', 'SR: Volume of ellipsoid', { value: '112', unit: 'mm' }],
      ['Left Kidney', '130', 'left-kidney', 'SR: Volume of ellipsoid', { value: '10.8', unit: 'cm' }],
    ]);
    expect(source.mark.set.measurements[0]?.source).toBe('Sono Vendor');
  });

  it('a volume beside the diameters is the volume the report gives (as before); the diameters are not estimated', () => {
    const reading = read([{ ...RIGHT, volumeMl: '150' }]);
    expect(reading.kind === 'volumes' && reading.volumes.map((v) => [v.value, v.unit, v.concept.value, v.diameters])).toEqual([['150', 'mL', '118565006', undefined]]);
  });

  it.each([
    ['a diameter missing', [{ ...RIGHT, depth: undefined }], /diameters \(no volume\) at content item 1\.5\.1 \(right-kidney\): has no depth, so no ellipsoid volume/],
    ['diameters in inches', [{ ...RIGHT, unit: '[in_i]' as const }], /its length unit \(\[in_i\],UCUM,"inch"\) is not mm, cm or m/],
    ['a diameter of zero', [{ ...RIGHT, width: '0' }], /the width must be positive/],
  ])('with %s is unsure, with the reason', (_name, kidneys, reason) => {
    const reading = read(kidneys as UsKidney[]);
    expect(reading.kind).toBe('unsure');
    expect(reading.kind === 'unsure' && reading.reasons.join('; ')).toMatch(reason);
  });

  it('two different lengths in one group are refused, never averaged', () => {
    const dataset = ultrasoundSrDataset({ studyInstanceUid: uid(), patientId: 'P1', kidneys: [RIGHT] });
    const group = ((dataset['ContentSequence'] as Record<string, unknown>[])[4]!['ContentSequence'] as Record<string, unknown>[])[0]!;
    const items = group['ContentSequence'] as Record<string, unknown>[];
    const length = items.find((i) => JSON.stringify(i['ConceptNameCodeSequence']).includes('410668003'))!;
    items.push({ ...length, MeasuredValueSequence: [{ ...(length['MeasuredValueSequence'] as Record<string, unknown>[])[0], NumericValue: '115' }] });
    const reading = readVendorSr(decodePart10(part10(dataset)).dataset, OWN);
    expect(reading.kind === 'unsure' && reading.reasons.join('; ')).toMatch(/has 2 different lengths \(112 mm, 115 mm\)/);
  });
});
