/**
 * The reader of other systems' TID 1500 reports (issue 16, part 1): what it takes, what it refuses,
 * that it never guesses; property tests over values, units and item order; a bounded fuzz test.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePart10 } from '../../src/dicom/part10.js';
import { buildMeasurementReport } from '../../src/dicom/sr/document.js';
import { readVendorSr, type VendorSrReading } from '../../src/dicom/sr/ingest.js';
import { vendorSrSource } from '../../src/inputs/vendor-sr.js';
import { ownDeviceObserverUids } from '../../src/inputs/settings.js';
import { parseMeasurementsJson } from '../../src/measurements/parse.js';
import { part10, uid, vendorSrDataset, type Dataset, type FixtureReport, type FixtureVolume } from '../fixtures/vendor-sr.js';

const OWN = { deviceObserverUids: ownDeviceObserverUids(undefined) };
const PLACE = { orthancInstanceId: 'i', orthancSeriesId: 's' };

function report(volumes: readonly FixtureVolume[], extra: Partial<FixtureReport> = {}): Dataset {
  return vendorSrDataset({ studyInstanceUid: uid(), patientId: 'P1', volumes, ...extra });
}

function volumesOf(reading: VendorSrReading): string[] {
  expect(reading.kind).toBe('volumes');
  return reading.kind === 'volumes' ? reading.volumes.map((v) => `${v.anatomy} ${v.value} ${v.unit}`) : [];
}

describe('readVendorSr', () => {
  it('reads Kidney plus laterality in cm3, in another item order, with manufacturer and observers', () => {
    const dataset = report([{ site: 'left-lat', value: '132', unit: 'cm3' }, { site: 'right-lat', value: '125.5', unit: 'cm3' }], { personName: 'Smith^Anna' });
    const reading = readVendorSr(dataset, OWN);
    expect(volumesOf(reading)).toEqual(['left-kidney 132 cm3', 'right-kidney 125.5 cm3']);
    if (reading.kind !== 'volumes') return;
    expect(reading.report).toMatchObject({ manufacturer: 'Acme AI', sopClassUid: '1.2.840.10008.5.1.4.1.1.88.33', contentDateTime: '20240116 093000' });
    expect(reading.report.observer).toBe('device KidneyAI (1.2.826.0.1.3680043.9.7433.1.1), person Smith^Anna');
  });

  it('reads pre-coordinated right and left kidney and a bilateral volume', () => {
    const dataset = report([{ site: 'right-pre', value: '150', unit: 'mL' }, { site: 'left-pre', value: '140', unit: 'ml' }, { site: 'both-lat', value: '290', unit: 'mL' }]);
    expect(volumesOf(readVendorSr(dataset, OWN))).toEqual(['right-kidney 150 mL', 'left-kidney 140 mL', 'both-kidneys 290 mL']);
  });

  it('converts mm3 exactly and keeps litres for the parser', () => {
    const dataset = report([{ site: 'right-pre', value: '125500', unit: 'mm3' }, { site: 'left-pre', value: '0.132', unit: 'L' }]);
    expect(volumesOf(readVendorSr(dataset, OWN))).toEqual(['right-kidney 125.500 mL', 'left-kidney 0.132 L']);
    const source = vendorSrSource(readVendorSr(dataset, OWN), PLACE);
    expect(source.kind).toBe('mark');
    if (source.kind === 'mark') expect(source.mark.set.measurements.map((m) => [m.name, m.valueMl])).toEqual([['Right Kidney', '125.500'], ['Left Kidney', '132']]);
  });

  it('takes any CID 7472 volume concept, and a finding site on the NUM itself', () => {
    const dataset = report([{ site: 'right-pre', value: '150', unit: 'mL', concept: ['121221', 'DCM', 'Volume of ellipsoid'], siteOnNum: true }]);
    expect(volumesOf(readVendorSr(dataset, OWN))).toEqual(['right-kidney 150 mL']);
  });

  it('refuses two conflicting right kidney volumes, naming both', () => {
    const reading = readVendorSr(report([{ site: 'right-pre', value: '125', unit: 'mL' }, { site: 'right-lat', value: '140', unit: 'mL' }, { site: 'left-pre', value: '130', unit: 'mL' }]), OWN);
    expect(reading.kind).toBe('unsure');
    if (reading.kind === 'unsure') expect(reading.reasons[0]).toMatch(/2 different right-kidney volumes \(125 mL at 1\.6\.1\.2, 140 mL at 1\.6\.2\.2\)/);
  });

  it('takes the same volume given twice in different units as one', () => {
    expect(volumesOf(readVendorSr(report([{ site: 'right-pre', value: '125', unit: 'mL' }, { site: 'right-lat', value: '125000', unit: 'mm3' }]), OWN))).toEqual(['right-kidney 125 mL']);
  });

  it('refuses a report whose only volume is not of a kidney', () => {
    const reading = readVendorSr(report([{ site: 'liver', value: '1500', unit: 'mL' }]), OWN);
    expect(reading).toMatchObject({ kind: 'unsure', reasons: [expect.stringMatching(/finding site \(10200004,SCT,"Liver"\), not a kidney/)] });
  });

  it('uses the kidneys and notes a liver volume beside them', () => {
    const reading = readVendorSr(report([{ site: 'liver', value: '1500', unit: 'mL' }, { site: 'right-pre', value: '120', unit: 'mL' }]), OWN);
    expect(volumesOf(reading)).toEqual(['right-kidney 120 mL']);
    if (reading.kind === 'volumes') expect(reading.notes).toEqual([expect.stringContaining('not a kidney')]);
  });

  it('notes volumes without a finding site or with a unit that is not a volume', () => {
    const reading = readVendorSr(report([{ site: 'none', value: '99', unit: 'mL' }, { site: 'left-pre', value: '2', unit: '{ratio}' }, { site: 'right-pre', value: '120', unit: 'mL' }]), OWN);
    expect(volumesOf(reading)).toEqual(['right-kidney 120 mL']);
    if (reading.kind === 'volumes') expect(reading.notes).toEqual([expect.stringContaining('has no finding site'), expect.stringContaining('not mL, cm3, L or mm3')]);
  });

  it('refuses volumes in an SR that is not TID 1500, and ignores an SR without volumes', () => {
    const other = readVendorSr(report([{ site: 'right-pre', value: '120', unit: 'mL' }], { root: ['18748-4', 'LN', 'Diagnostic Imaging Report'], templateId: '2000' }), OWN);
    expect(other).toMatchObject({ kind: 'unsure', reasons: [expect.stringContaining('not a TID 1500 Measurement Report (root CONTAINER (18748-4,LN,"Diagnostic Imaging Report"), template TID 2000)')] });
    const dose = readVendorSr(report([], { root: ['113701', 'DCM', 'X-Ray Radiation Dose Report'], templateId: '10011' }), OWN);
    expect(dose).toMatchObject({ kind: 'ignored', reason: expect.stringContaining('not a TID 1500') });
  });

  it('recognises our own reports, by device observer UID and by manufacturer with series description', () => {
    const ours = report([{ site: 'right-pre', value: '120', unit: 'mL' }], { deviceUid: OWN.deviceObserverUids[0] });
    expect(readVendorSr(ours, OWN).kind).toBe('ours');
    const facts = {
      orthancId: 'x', studyInstanceUid: uid(), studyDate: '20240115', studyTime: '', referringPhysicianName: '', studyId: '', accessionNumber: '',
      patient: { patientName: 'A^B', patientId: 'P', birthDate: '', sex: '' }, series: [],
    } as unknown as Parameters<typeof buildMeasurementReport>[0]['facts'];
    const written = buildMeasurementReport({ facts, measurements: parseMeasurementsJson('{"Right Kidney": "120 ml"}'), now: new Date(0), options: { uidRoot: '1.2.3' } });
    // Written under a UID root this reader was not told of: the manufacturer and series description still say it is ours.
    expect(readVendorSr(written.dataset, OWN).kind).toBe('ours');
  });

  it('is not fooled by a non-SR object', () => {
    expect(readVendorSr({ SOPClassUID: '1.2.840.10008.5.1.4.1.1.2' }, OWN).kind).toBe('not-sr');
  });

  it('reads the same volumes after a dcmjs round trip through Part-10 bytes (DS as numbers)', () => {
    const dataset = report([{ site: 'right-lat', value: '125.5', unit: 'cm3' }, { site: 'left-pre', value: '132', unit: 'mL' }]);
    const read = readVendorSr(decodePart10(part10(dataset)).dataset, OWN);
    expect(volumesOf(read)).toEqual(['right-kidney 125.5 cm3', 'left-kidney 132 mL']);
  });
});

const decimal = fc
  .tuple(fc.integer({ min: 1, max: 4999 }), fc.integer({ min: 0, max: 99 }))
  .map(([whole, hundredths]) => (hundredths === 0 ? String(whole) : `${whole}.${String(hundredths).padStart(2, '0')}`));
const side = fc.constantFrom<FixtureVolume['site']>('right-pre', 'right-lat');
const leftSide = fc.constantFrom<FixtureVolume['site']>('left-pre', 'left-lat');

describe('readVendorSr properties', () => {
  it('gives back every kidney volume in mL exactly, whatever the unit, form of site and group order', () => {
    fc.assert(
      fc.property(decimal, decimal, side, leftSide, fc.constantFrom('mL', 'cm3', 'mm3'), fc.boolean(), (right, left, r, l, unit, swap) => {
        const toUnit = (ml: string): string => (unit === 'mm3' ? String(Math.round(Number(ml) * 100) * 10) : ml);
        const volumes: FixtureVolume[] = [
          { site: r, value: toUnit(right), unit: unit as FixtureVolume['unit'] },
          { site: l, value: toUnit(left), unit: unit as FixtureVolume['unit'] },
        ];
        const source = vendorSrSource(readVendorSr(report(swap ? volumes.reverse() : volumes), OWN), PLACE);
        expect(source.kind).toBe('mark');
        if (source.kind !== 'mark') return;
        const byName = new Map(source.mark.set.measurements.map((m) => [m.name, Number(m.valueMl)]));
        expect(byName.get('Right Kidney')).toBe(Number(right));
        expect(byName.get('Left Kidney')).toBe(Number(left));
      }),
      { seed: 1616, numRuns: 200 },
    );
  });

  it('never takes a report with two different values for one kidney', () => {
    fc.assert(
      fc.property(decimal, decimal, side, side, (a, b, s1, s2) => {
        fc.pre(Number(a) !== Number(b));
        expect(readVendorSr(report([{ site: s1, value: a, unit: 'mL' }, { site: s2, value: b, unit: 'mL' }]), OWN).kind).toBe('unsure');
      }),
      { seed: 1617, numRuns: 100 },
    );
  });
});

/** Replaces one value somewhere in the tree by a random one: the shapes a broken writer produces. */
function mutate(value: unknown, path: readonly number[], junk: unknown): unknown {
  if (path.length === 0) return junk;
  const [step, ...rest] = path as [number, ...number[]];
  if (Array.isArray(value)) {
    if (value.length === 0) return junk;
    const i = step % value.length;
    return value.map((v, j) => (j === i ? mutate(v, rest, junk) : v));
  }
  if (typeof value === 'object' && value !== null) {
    const keys = Object.keys(value);
    if (keys.length === 0) return junk;
    const key = keys[step % keys.length] as string;
    return { ...(value as Record<string, unknown>), [key]: mutate((value as Record<string, unknown>)[key], rest, junk) };
  }
  return junk;
}

describe('readVendorSr fuzz (fixed seed, bounded)', () => {
  it('never throws and never reads a volume that is not in the document, on 400 mutated reports', () => {
    const base = report([{ site: 'right-lat', value: '125.5', unit: 'cm3' }, { site: 'left-pre', value: '132', unit: 'mL' }, { site: 'liver', value: '1400', unit: 'mL' }]);
    const junk = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.constant(null), fc.constant(undefined), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), fc.constant([{}]));
    fc.assert(
      fc.property(fc.array(fc.nat(), { minLength: 1, maxLength: 9 }), junk, (path, value) => {
        const reading = readVendorSr(mutate(base, path, value) as Dataset, OWN);
        if (reading.kind === 'volumes') {
          for (const v of reading.volumes) expect(['125.5 cm3', '132 mL', '1400 mL']).toContain(`${v.value} ${v.unit}`);
        }
      }),
      { seed: 16, numRuns: 400 },
    );
  });

  it('regression (fuzz seed 16): a ValueType that is an object without a prototype is reported, not thrown', () => {
    const dataset = { ...report([{ site: 'right-pre', value: '120', unit: 'mL' }]), ValueType: Object.create(null) as unknown };
    expect(readVendorSr(dataset, OWN)).toMatchObject({ kind: 'unsure', reasons: [expect.stringContaining('root (none)')] });
  });

  it('stops at a pathologically deep tree with a reason', () => {
    let node: Dataset = { RelationshipType: 'CONTAINS', ValueType: 'CONTAINER', ConceptNameCodeSequence: [{ CodeValue: '125007', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Measurement Group' }], ContentSequence: [] };
    for (let i = 0; i < 50; i++) node = { ...node, ContentSequence: [node] };
    const dataset = { ...report([]), ContentSequence: [node] };
    expect(readVendorSr(dataset, OWN)).toMatchObject({ kind: 'unsure', reasons: [expect.stringContaining('deeper than')] });
  });
});
