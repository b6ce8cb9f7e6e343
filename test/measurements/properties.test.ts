/**
 * Property-based and fuzz tests of the measurement parser and unit conversion (issue 12, "Hunt for
 * the next ones"), and the named regression tests of what they found. A fixed seed and a bounded
 * number of runs keep them deterministic and within CI time; raise KV_FUZZ_RUNS to search longer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidMeasurementsError } from '../../src/errors.js';
import { anatomyForName } from '../../src/measurements/anatomy.js';
import { ANATOMIES, type MeasurementSet } from '../../src/measurements/model.js';
import { MAX_VOLUME_ML, parseMeasurementsJson, parseMeasurementsObject } from '../../src/measurements/parse.js';
import { ACCEPTED_UNITS, shiftDecimal, unitScale } from '../../src/measurements/units.js';

const RUNS = Number(process.env['KV_FUZZ_RUNS'] ?? 300);
const PARAMS = { seed: 20261129, numRuns: RUNS } as const;

/** Every member name of Object.prototype and Function.prototype: the keys a plain object lookup would find. */
const PROTOTYPE_KEYS = [...new Set([...Object.getOwnPropertyNames(Object.prototype), ...Object.getOwnPropertyNames(Function.prototype), 'prototype'])];

/** A plain decimal as the parser must keep it: digits, optional fraction. */
const EXACT_DECIMAL = /^(0|[1-9]\d*)(\.\d+)?$/;

/** The parse outcome: the set, or the message of an InvalidMeasurementsError; anything else fails the property. */
function outcome(parse: () => MeasurementSet): MeasurementSet | string {
  try {
    return parse();
  } catch (error) {
    if (error instanceof InvalidMeasurementsError) {
      expect(error.message.length).toBeGreaterThan(0);
      return error.message;
    }
    throw error;
  }
}

/** Checks what every accepted set must be: exact decimals within range, real anatomies, no prototype member. */
function checkSet(set: MeasurementSet): void {
  for (const m of set.measurements) {
    expect(m.valueMl).toMatch(EXACT_DECIMAL);
    expect(m.valueMl.length).toBeLessThanOrEqual(16);
    expect(m.volumeMl).toBeGreaterThan(0);
    expect(m.volumeMl).toBeLessThanOrEqual(MAX_VOLUME_ML);
    if (m.anatomy !== undefined) expect(ANATOMIES).toContain(m.anatomy);
    expect(typeof m.name).toBe('string');
  }
  expect(set.digest).toMatch(/^[0-9a-f]{64}$/);
}

/** Exact value of a plain decimal string times 10^power as a reduced (BigInt digits, exponent) pair, computed independently of shiftDecimal. */
function exact(text: string, power = 0): string {
  const [whole = '', fraction = ''] = text.split('.');
  let digits = BigInt(`${whole}${fraction}` || '0');
  let exponent = power - fraction.length;
  while (digits !== 0n && digits % 10n === 0n) {
    digits /= 10n;
    exponent += 1;
  }
  return digits === 0n ? '0' : `${digits}e${exponent}`;
}

const digitsArb = fc.stringMatching(/^(0|[1-9]\d{0,5})(\.\d{1,14})?$/);
const unitArb = fc.constantFrom(...ACCEPTED_UNITS);
/** Names: the well-known ones, prototype keys, and arbitrary text. */
const nameArb = fc.oneof(fc.constantFrom('Right Kidney', 'left', 'TKV', 'Spleen', '__proto__', 'constructor', ...PROTOTYPE_KEYS), fc.string({ maxLength: 50 }));
/** Values: numbers, texts with any unit-like word, and arbitrary JSON. */
const valueArb = fc.oneof(
  fc.tuple(digitsArb, fc.oneof(unitArb, fc.constantFrom(...PROTOTYPE_KEYS), fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,8}$/))).map(([d, u]) => `${d} ${u}`),
  fc.double({ noNaN: false }),
  fc.string({ maxLength: 30 }),
  fc.jsonValue({ maxDepth: 2 }),
);

describe('measurement parser properties', () => {
  it('any value either parses to an exact decimal in mL with a known unit, or is refused with a message', () => {
    fc.assert(
      fc.property(nameArb, valueArb, (name, value) => {
        const result = outcome(() => parseMeasurementsObject(JSON.parse(JSON.stringify({ [name]: value })) as unknown));
        if (typeof result !== 'string') checkSet(result);
      }),
      PARAMS,
    );
  });

  it('a prototype member is never a unit: "<n> toString" and its kin are refused as unknown units', () => {
    fc.assert(
      fc.property(digitsArb, fc.constantFrom(...PROTOTYPE_KEYS), (digits, key) => {
        fc.pre(/^[A-Za-z]/.test(key));
        expect(() => parseMeasurementsObject({ 'Right Kidney': `${digits} ${key}` })).toThrow(`unknown unit "${key}"`);
      }),
      PARAMS,
    );
  });

  it('a prototype member is never an anatomy: such names are plain names', () => {
    for (const key of PROTOTYPE_KEYS) {
      expect(anatomyForName(key)).toBeUndefined();
      const set = outcome(() => parseMeasurementsObject(JSON.parse(`{${JSON.stringify(key)}: "7 ml"}`) as unknown));
      if (typeof set === 'string') expect(set).not.toMatch(/is not a function|Cannot read/);
      else expect(set.measurements[0]).toEqual({ name: key.trim(), valueMl: '7', volumeMl: 7 });
    }
  });

  it('unit conversion is exact: the mL value equals the input times the unit\'s power of ten', () => {
    fc.assert(
      fc.property(digitsArb, unitArb, (digits, unit) => {
        const power = unitScale(unit);
        expect(power).toBeDefined();
        const ml = shiftDecimal(digits, power!);
        expect(ml).toMatch(EXACT_DECIMAL);
        expect(exact(ml)).toBe(exact(digits, power));
        const result = outcome(() => parseMeasurementsObject({ X: `${digits} ${unit}` }));
        if (typeof result === 'string') expect(result).toMatch(/must be positive|at most 5000 mL|significant digits/);
        else expect(result.measurements[0]?.valueMl).toBe(ml);
      }),
      PARAMS,
    );
  });

  it('digits beyond what a DS holds are refused with the number allowed, never accepted', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[1-4]\d{0,3}\.\d{12,25}$/), (digits) => {
        const result = outcome(() => parseMeasurementsObject({ X: `${digits} ml` }));
        if (digits.length > 16) expect(result).toMatch(/DICOM decimals \(DS\) hold 16 characters, so at most \d+ significant digits/);
        else expect(typeof result).not.toBe('string');
      }),
      PARAMS,
    );
  });

  it('round trip: a parsed set written back in the structured form parses to the same digest, in any order', () => {
    const entry = fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9 ]{0,20}$/), digitsArb, unitArb);
    fc.assert(
      fc.property(fc.uniqueArray(entry, { minLength: 1, maxLength: 6, selector: (e) => e[0].trim().toLowerCase().replace(/\s+/g, ' ') }), fc.boolean(), (entries, reverse) => {
        const first = outcome(() => parseMeasurementsObject(Object.fromEntries(entries.map(([n, d, u]) => [n, `${d} ${u}`]))));
        if (typeof first === 'string') return;
        checkSet(first);
        const back = first.measurements.map((m) => ({ name: m.name, value: m.valueMl, unit: 'mL', ...(m.anatomy ? { anatomy: m.anatomy } : {}) }));
        const again = parseMeasurementsJson(JSON.stringify({ measurements: reverse ? [...back].reverse() : back }));
        expect(again.digest).toBe(first.digest);
        // Order beyond the kidneys follows the input; the digest must not.
        const byName = (set: MeasurementSet) => [...set.measurements].sort((a, b) => (a.name < b.name ? -1 : 1));
        expect(byName(again)).toEqual(byName(first));
      }),
      PARAMS,
    );
  });
});

describe('measurement parser fuzz', () => {
  const VALID = '{"measurements":[{"name":"Right Kidney","value":"152.30","unit":"mL","anatomy":"right-kidney","method":"segmentation","source":"KidneyNet","segments":[1]}],"segmentation":{"seriesInstanceUid":"1.2.3","sopInstanceUid":"1.2.4"}}';

  /** A text mutated as a broken client or a bad disk would: cut, a character replaced, text inserted. */
  const mutated = fc.oneof(
    fc.nat({ max: VALID.length }).map((n) => VALID.slice(0, n)),
    fc.tuple(fc.nat({ max: VALID.length - 1 }), fc.string({ minLength: 1, maxLength: 3 })).map(([i, c]) => VALID.slice(0, i) + c + VALID.slice(i + 1)),
    fc.tuple(fc.nat({ max: VALID.length }), fc.constantFrom('__proto__', 'constructor', '"', '{', '[', ',', 'null', '1e400', '-0', '"toString"')).map(([i, c]) => VALID.slice(0, i) + c + VALID.slice(i)),
    fc.json({ maxDepth: 3 }),
    fc.string({ maxLength: 200 }),
  );

  it('pending marks: any text is either a valid set or an InvalidMeasurementsError, never a crash', () => {
    fc.assert(
      fc.property(mutated, (text) => {
        const result = outcome(() => parseMeasurementsJson(text));
        if (typeof result !== 'string') checkSet(result);
      }),
      { ...PARAMS, numRuns: RUNS * 3 },
    );
  });
});

describe('regressions found by these properties and by issue 12', () => {
  it.each([
    ['12 toString', 'unknown unit "toString"'],
    ['7 constructor', 'unknown unit "constructor"'],
    ['30 hasOwnProperty', 'unknown unit "hasOwnProperty"'],
    ['5 __proto__', '"5 __proto__" has no unit'],
  ])('issue 12 item 1: "%s" is refused (it was stored as a fraction of a mL)', (value, message) => {
    expect(() => parseMeasurementsObject({ 'Right Kidney': value })).toThrow(message);
  });

  it('issue 12 item 1: "constructor" and "__proto__" are plain names without anatomy', () => {
    const set = parseMeasurementsJson('{"constructor": "7 ml", "__proto__": "8 ml", "Right Kidney": "125 ml"}');
    expect(set.measurements.map((m) => [m.name, m.anatomy])).toEqual([
      ['Right Kidney', 'right-kidney'],
      ['constructor', undefined],
      ['__proto__', undefined],
    ]);
  });

  it('issue 12 item 4: 125.12345678901234567 ml is refused at parse time, saying how many digits fit', () => {
    expect(() => parseMeasurementsObject({ 'Right Kidney': '125.12345678901234567 ml' })).toThrow(
      '"Right Kidney": volume "125.12345678901234567 ml" has 20 significant digits (125.12345678901234567 mL); DICOM decimals (DS) hold 16 characters, so at most 15 significant digits for this value',
    );
    // Litres move the point: 0.0001234567890123456 L is 0.1234567890123456 mL, 18 characters.
    expect(() => parseMeasurementsObject({ X: '0.0001234567890123456 L' })).toThrow('so at most 14 significant digits for this value');
    // A JSON number that JavaScript already rounded to 17 digits is refused too, not rounded again.
    expect(() => parseMeasurementsJson('{"X": 125.12345678901234567}')).toThrow('at most 15 significant digits');
    expect(parseMeasurementsObject({ X: '125.123456789012 ml' }).measurements[0]?.valueMl).toBe('125.123456789012');
  });
});
