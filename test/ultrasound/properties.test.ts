/**
 * Property-based and bounded fuzz tests of everything that parses diameters (issue 16, part 3): the
 * dims text ("11.2x5.1x4.8cm"), the mark's diameter object, and ultrasound reports read from DICOM;
 * then the named regression tests of what they found. Fixed seed; KV_FUZZ_RUNS sets the budget.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePart10 } from '../../src/dicom/part10.js';
import { buildMeasurementReport } from '../../src/dicom/sr/document.js';
import { readVendorSr } from '../../src/dicom/sr/ingest.js';
import { readMeasurementReport } from '../../src/dicom/sr/read.js';
import { InvalidMeasurementsError } from '../../src/errors.js';
import { ownDeviceObserverUids } from '../../src/inputs/settings.js';
import { ellipsoidVolumeMl, parseDiameterObject, parseDimensions } from '../../src/measurements/diameters.js';
import type { MeasurementSet } from '../../src/measurements/model.js';
import { MAX_VOLUME_ML, parseMeasurementsObject } from '../../src/measurements/parse.js';
import { series, study } from '../dicom/sr-fixtures.js';
import { part10, uid } from '../fixtures/vendor-sr.js';
import { ultrasoundSrDataset } from '../fixtures/ultrasound-sr.js';

const RUNS = Number(process.env['KV_FUZZ_RUNS'] ?? 300);
const PARAMS = { seed: 20261616, numRuns: RUNS } as const;
const OWN = { deviceObserverUids: ownDeviceObserverUids(undefined) };
const PROTOTYPE_KEYS = [...new Set([...Object.getOwnPropertyNames(Object.prototype), ...Object.getOwnPropertyNames(Function.prototype), 'prototype'])];
const EXACT_DECIMAL = /^(0|[1-9]\d*)(\.\d+)?$/;

/** The outcome of a parse: the value, or the message of an InvalidMeasurementsError; anything else fails. */
function outcome<T>(parse: () => T): T | string {
  try {
    return parse();
  } catch (error) {
    if (error instanceof InvalidMeasurementsError) return error.message;
    throw error;
  }
}

function checkSet(set: MeasurementSet): void {
  for (const m of set.measurements) {
    expect(m.valueMl).toMatch(EXACT_DECIMAL);
    expect(m.valueMl.length).toBeLessThanOrEqual(16);
    expect(m.volumeMl).toBeGreaterThan(0);
    expect(m.volumeMl).toBeLessThanOrEqual(MAX_VOLUME_ML);
  }
}

/** Significant digits as the parser counts them, computed here on their own. */
function significant(text: string): number {
  return text.replace('.', '').replace(/^0+/, '').length;
}

/** Diameters between 0.1 and 99.9 in one unit, written with 1 to 4 significant digits. */
const diameterArb = fc.tuple(fc.integer({ min: 1, max: 999 }), fc.integer({ min: 0, max: 2 })).map(([n, shift]) => (shift === 0 ? String(n) : (n / 10 ** shift).toFixed(shift)));
const unitArb = fc.constantFrom('mm', 'cm');
const separatorArb = fc.constantFrom('x', ' x ', '×', ' * ', 'x ');

describe('dims text properties', () => {
  it('three lengths with one unit parse exactly, and the volume is pi/6 x L x W x D rounded to the least significant digits', () => {
    fc.assert(
      fc.property(diameterArb, diameterArb, diameterArb, unitArb, separatorArb, fc.boolean(), (l, w, d, unit, sep, unitEach) => {
        const text = unitEach ? [l, w, d].map((v) => `${v}${unit}`).join(sep) : `${[l, w, d].join(sep)} ${unit}`;
        const parsed = outcome(() => parseDimensions('R', text));
        if (typeof parsed === 'string') {
          // Only a value that is zero ("0", "0.00") or beyond 50 cm may be refused here.
          expect(parsed).toMatch(/must be positive|must be at most 500 mm/);
          expect([l, w, d].some((v) => Number(v) === 0 || Number(v) * (unit === 'cm' ? 10 : 1) > 500)).toBe(true);
          return;
        }
        expect([parsed.length, parsed.width, parsed.depth]).toEqual([l, w, d].map((value) => ({ value: String(value).replace(/^0+(?=\d)/, ''), unit })));
        const volume = ellipsoidVolumeMl(parsed);
        expect(volume).toMatch(EXACT_DECIMAL);
        const mm = (v: string): number => Number(v) * (unit === 'cm' ? 10 : 1);
        const exact = ((Math.PI / 6) * mm(l) * mm(w) * mm(d)) / 1000;
        const digits = Math.min(significant(l), significant(w), significant(d));
        const halfStep = 0.5 * 10 ** (Math.floor(Math.log10(exact)) - digits + 1);
        expect(Math.abs(Number(volume) - exact)).toBeLessThanOrEqual(halfStep * (1 + 1e-9) + exact * 1e-12);
      }),
      PARAMS,
    );
  });

  it('the same diameters as text or as an object give the same set and digest', () => {
    fc.assert(
      fc.property(diameterArb, diameterArb, diameterArb, unitArb, (l, w, d, unit) => {
        fc.pre([l, w, d].every((v) => Number(v) > 0));
        const asText = outcome(() => parseMeasurementsObject({ measurements: [{ name: 'Right Kidney', diameters: `${l}x${w}x${d}${unit}` }] }));
        const asObject = outcome(() => parseMeasurementsObject({ 'Right Kidney': { length: `${l} ${unit}`, width: `${w} ${unit}`, depth: `${d} ${unit}` } }));
        expect(asObject).toEqual(asText);
      }),
      PARAMS,
    );
  });

  it('any text is either three diameters or refused with a message, never thrown otherwise', () => {
    const texty = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.tuple(fc.array(fc.oneof(diameterArb, fc.string({ maxLength: 6 }), fc.constantFrom(...PROTOTYPE_KEYS)), { maxLength: 5 }), fc.oneof(separatorArb, fc.string({ maxLength: 2 }))).map(([parts, sep]) => parts.join(sep)),
      fc.constantFrom(...PROTOTYPE_KEYS).map((k) => `1x2x3 ${k}`),
    );
    fc.assert(
      fc.property(texty, (text) => {
        const result = outcome(() => parseMeasurementsObject({ measurements: [{ name: 'Right Kidney', diameters: text }] }));
        if (typeof result === 'string') expect(result.length).toBeGreaterThan(0);
        else checkSet(result);
      }),
      PARAMS,
    );
  });
});

describe('mark diameter object properties', () => {
  it('any value under a kidney is a set within the limits or refused with a message', () => {
    const member = fc.oneof(diameterArb.map((v) => `${v} cm`), diameterArb.map(Number), fc.constantFrom(...PROTOTYPE_KEYS), fc.jsonValue({ maxDepth: 1 }));
    const key = fc.oneof(fc.constantFrom('length', 'width', 'depth', 'unit', '__proto__', 'constructor', 'toString'), fc.string({ maxLength: 8 }));
    fc.assert(
      fc.property(fc.dictionary(key, member, { maxKeys: 5 }), (object) => {
        const result = outcome(() => parseMeasurementsObject(JSON.parse(JSON.stringify({ 'Right Kidney': object })) as unknown));
        if (typeof result !== 'string') {
          checkSet(result);
          expect(result.measurements[0]?.diameters).toBeDefined();
        }
      }),
      PARAMS,
    );
  });

  it('a prototype member is never a length unit', () => {
    for (const key of PROTOTYPE_KEYS.filter((k) => /^[A-Za-z]/.test(k))) {
      expect(() => parseDiameterObject('R', { length: `11 ${key}`, width: '5 cm', depth: '4 cm' })).toThrow(`unknown length unit "${key}"`);
      expect(() => parseDiameterObject('R', { length: 11, width: 5, depth: 4, unit: key })).toThrow(`unknown length unit "${key}"`);
    }
  });
});

describe('ultrasound SR reading (fixed seed, bounded)', () => {
  it('diameters written in a report come back as the same ellipsoid the parser computes, in either structure', () => {
    fc.assert(
      fc.property(diameterArb, diameterArb, diameterArb, unitArb, fc.constantFrom('group' as const, 'num' as const), (l, w, d, unit, siteOn) => {
        fc.pre([l, w, d].every((v) => Number(v) > 0));
        const dataset = ultrasoundSrDataset({ studyInstanceUid: uid(), patientId: 'P', kidneys: [{ side: 'left', length: l, width: w, depth: d, unit, siteOn }] });
        const reading = readVendorSr(dataset, OWN);
        const expected = outcome(() => ({ volume: ellipsoidVolumeMl(parseDimensions('x', `${l}x${w}x${d}${unit}`)) }));
        if (typeof expected === 'string') {
          expect(reading.kind).toBe('unsure');
          return;
        }
        expect(reading.kind).toBe('volumes');
        if (reading.kind === 'volumes') expect(reading.volumes.map((v) => [v.anatomy, v.value])).toEqual([['left-kidney', expected.volume]]);
      }),
      PARAMS,
    );
  });

  it('never throws, and every estimate it reads is the ellipsoid of the diameters it names, on mutated reports', () => {
    const base = ultrasoundSrDataset({ studyInstanceUid: uid(), patientId: 'P', kidneys: [{ side: 'right', length: '112', width: '51', depth: '48', unit: 'mm', siteOn: 'group' }, { side: 'left', length: '10.8', width: '5.1', depth: '4.6', unit: 'cm', siteOn: 'num' }] });
    const junk = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.constant(null), fc.constant(undefined), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), fc.constant([{}]), fc.constantFrom('mm', 'cm', 'm', '410668003', '118565006'));
    fc.assert(
      fc.property(fc.array(fc.nat(), { minLength: 1, maxLength: 9 }), junk, (path, value) => {
        const reading = readVendorSr(mutate(base, path, value) as Record<string, unknown>, OWN);
        if (reading.kind !== 'volumes') return;
        for (const v of reading.volumes) {
          expect(['right-kidney', 'left-kidney', 'both-kidneys']).toContain(v.anatomy);
          if (v.diameters) expect(v.value).toBe(ellipsoidVolumeMl(parseDiameterObject('x', v.diameters)));
        }
      }),
      PARAMS,
    );
  });
});

describe('our SR round-trips any diameters', () => {
  it('built, encoded and read back, the group gives the same diameters and volume', () => {
    const facts = study('1.2.826.0.1.3680043.10.1526.700', 'Doe^Jane', [series('1.2.826.0.1.3680043.10.1526.700.1', 'US', '1.2.840.10008.5.1.4.1.1.6.1', 1)]);
    fc.assert(
      fc.property(diameterArb, diameterArb, diameterArb, unitArb, (l, w, d, unit) => {
        const set = outcome(() => parseMeasurementsObject({ 'Right Kidney': { length: `${l} ${unit}`, width: `${w} ${unit}`, depth: `${d} ${unit}` } }));
        if (typeof set === 'string') return;
        const built = buildMeasurementReport({ facts, measurements: set, now: new Date(0), timeZone: 'UTC' });
        const [read] = readMeasurementReport(decodePart10(part10(built.dataset)).dataset);
        const m = set.measurements[0]!;
        expect(read?.ellipsoid).toBe(true);
        expect(Number(read?.valueMl)).toBe(Number(m.valueMl));
        for (const k of ['length', 'width', 'depth'] as const) expect([Number(read?.diameters?.[k]?.value), read?.diameters?.[k]?.unit]).toEqual([Number(m.diameters![k].value), unit]);
      }),
      { ...PARAMS, numRuns: Math.min(RUNS, 100) },
    );
  });
});

/** Replaces one value somewhere in the tree by another: the shapes a broken writer produces. */
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

describe('named regressions of the diameter properties', () => {
  it('regression (property seed 20261616, counterexample 1x1x51 cm): a diameter beyond 50 cm is refused, naming the limit', () => {
    expect(() => parseDimensions('R', '1x1x51cm')).toThrow('"R": the depth must be at most 500 mm, got "51 cm"');
  });

  it('regression (property seed 20261616, counterexample 1x1x1 mm in a report): a tiny estimate keeps its one digit, 0.0005 mL', () => {
    const reading = readVendorSr(ultrasoundSrDataset({ studyInstanceUid: uid(), patientId: 'P', kidneys: [{ side: 'left', length: '1', width: '1', depth: '1', unit: 'mm', siteOn: 'group' }] }), OWN);
    expect(reading.kind === 'volumes' && reading.volumes.map((v) => v.value)).toEqual(['0.0005']);
  });

  it('an estimate beyond 5000 mL or beyond what a DS holds is refused like a volume', () => {
    expect(() => parseMeasurementsObject({ 'Right Kidney': { length: '50 cm', width: '50 cm', depth: '50 cm' } })).toThrow('is 65000 mL, more than 5000 mL');
    expect(() => parseMeasurementsObject({ measurements: [{ name: 'Right Kidney', diameters: '0.0000000000001x1x1 mm' }] })).toThrow(/the ellipsoid volume has 1 significant digits/);
  });

  it('an exponent, a unit between the numbers only, a volume and diameters together, and a unit beside diameters are refused', () => {
    // "1e3" reads as 1 with a unit "e3": an exponent is never a number here.
    expect(() => parseDimensions('R', '1e3x2x3cm')).toThrow('need one unit at the end or one after every number');
    expect(() => parseDimensions('R', '1e3x2e1x3cm')).toThrow('unknown length unit "e3"');
    expect(() => parseDimensions('R', '11cmx5x4')).toThrow('need one unit at the end or one after every number');
    expect(() => parseMeasurementsObject({ measurements: [{ name: 'Right Kidney', value: '140 ml', diameters: '11x5x4 cm' }] })).toThrow('give either a volume or the diameters');
    expect(() => parseMeasurementsObject({ measurements: [{ name: 'Right Kidney', unit: 'ml', diameters: '11x5x4 cm' }] })).toThrow('diameters carry their own units');
  });
});
