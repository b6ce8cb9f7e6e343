import { describe, expect, it } from 'vitest';
import { InvalidMeasurementsError } from '../../src/errors.js';
import { buildSet, parseMeasurementsJson, parseMeasurementsObject, parseNamedValue } from '../../src/measurements/parse.js';
import { shiftDecimal } from '../../src/measurements/units.js';

function rejects(text: string, message: RegExp): void {
  expect(() => parseMeasurementsJson(text)).toThrow(InvalidMeasurementsError);
  expect(() => parseMeasurementsJson(text)).toThrow(message);
}

describe('the original map form', () => {
  it('reads named volumes and maps known names to anatomy', () => {
    const set = parseMeasurementsJson('{"Right Kidney": "125 ml", "Left Kidney": "132 ml", "Total Volume": "263.7 ml"}');
    expect(set.measurements.map((m) => [m.name, m.valueMl, m.anatomy])).toEqual([
      ['Right Kidney', '125', 'right-kidney'],
      ['Left Kidney', '132', 'left-kidney'],
      ['Total Volume', '263.7', 'both-kidneys'],
    ]);
  });

  it('keeps other names as named volumes without anatomy', () => {
    const set = parseMeasurementsJson('{"Cyst 1": "12.5 mL", "kidney_right": "100 cc"}');
    expect(set.measurements.find((m) => m.name === 'Cyst 1')?.anatomy).toBeUndefined();
    expect(set.measurements.find((m) => m.name === 'kidney_right')?.anatomy).toBe('right-kidney');
  });

  it.each([
    ['125 ml', '125'],
    ['125 mL', '125'],
    ['125cm3', '125'],
    ['125 cc', '125'],
    ['0.1250 L', '125.0'],
    ['0.263 l', '263'],
    ['1.5 L', '1500'],
    ['263.700 ml', '263.700'],
  ])('normalises %s to %s mL without losing digits', (text, ml) => {
    expect(parseMeasurementsObject({ X: text }).measurements[0]?.valueMl).toBe(ml);
  });

  it('takes JSON numbers as mL', () => {
    expect(parseMeasurementsObject({ 'Right Kidney': 125.25 }).measurements[0]?.valueMl).toBe('125.25');
  });
});

describe('the structured form', () => {
  it('reads name, value, unit, anatomy, method, source and operator', () => {
    const set = parseMeasurementsJson(
      JSON.stringify({
        measurements: [
          { name: 'RK', value: 0.125, unit: 'L', method: 'manual contouring', source: 'KidneySeg 2.1', operator: 'Dr. Who' },
          { name: 'Lesion A', value: '3.2', unit: 'cm3', anatomy: 'left-kidney' },
        ],
      }),
    );
    expect(set.measurements[0]).toMatchObject({ name: 'RK', valueMl: '125', anatomy: 'right-kidney', method: 'manual contouring', source: 'KidneySeg 2.1', operator: 'Dr. Who' });
    expect(set.measurements[1]).toMatchObject({ name: 'Lesion A', valueMl: '3.2', anatomy: 'left-kidney' });
  });

  it('gives the same digest for the same volumes in another form or order', () => {
    const a = parseMeasurementsJson('{"Right Kidney": "125 ml", "Spleen": "180 ml", "Cyst": "3 ml"}');
    const b = parseMeasurementsJson('{"measurements": [{"name": "Cyst", "value": 3, "unit": "mL"}, {"name": "Spleen", "value": "0.180", "unit": "L"}, {"name": "Right Kidney", "value": 125, "unit": "cc"}]}');
    const c = parseMeasurementsJson('{"Right Kidney": "126 ml", "Spleen": "180 ml", "Cyst": "3 ml"}');
    expect(b.digest).toBe(a.digest);
    expect(c.digest).not.toBe(a.digest);
  });
});

describe('rejections quote the bad part', () => {
  it.each([
    ['{"Right Kidney": "abc ml"}', /"Right Kidney": volume must be a number, got "abc"/],
    ['{"Right Kidney": "lots"}', /"Right Kidney": volume must be a number, got "lots"/],
    ['{"Right Kidney": "ml"}', /"Right Kidney": volume must be a number, got "ml"/],
    ['{"Right Kidney": "0 ml"}', /must be positive, got "0 ml"/],
    ['{"Right Kidney": "-5 ml"}', /must be positive, got "-5 ml"/],
    ['{"Right Kidney": -5}', /must be positive/],
    ['{"Right Kidney": "NaN ml"}', /must be a number, got "NaN"/],
    ['{"Right Kidney": "Infinity ml"}', /must be a number, got "Infinity"/],
    ['{"Right Kidney": "1e400 ml"}', /must be a number, got "1e400"/],
    ['{"Right Kidney": "6000 ml"}', /at most 5000 mL, got "6000 ml"/],
    ['{"Right Kidney": "7 L"}', /at most 5000 mL, got "7 L" \(7000 mL\)/],
    ['{"Right Kidney": "125 gallons"}', /unknown unit "gallons"/],
    ['{"Right Kidney": "125"}', /has no unit/],
    ['{"Right Kidney": true}', /must be a number or a text/],
    ['{}', /no measurements given/],
    ['[]', /must be a JSON object, got an array/],
    ['"125 ml"', /must be a JSON object, got "125 ml"/],
    ['null', /must be a JSON object, got null/],
    ['{"Right Kidney": "125 ml"', /not valid JSON/],
    ['{"Right Kidney": "125 ml", "right_kidney": "126 ml"}', /given twice/],
    ['{"Right Kidney": "125 ml", "RK": "126 ml"}', /both measure right-kidney/],
    ['{"measurements": [{"name": "X", "value": 1, "unit": "ml", "colour": "red"}]}', /unknown key "colour"/],
    ['{"measurements": [{"name": "X", "value": 1, "unit": "ml", "anatomy": "heart"}]}', /anatomy must be one of/],
    ['{"measurements": [42]}', /measurements\[0\] must be an object, got number 42/],
    ['{"measurements": []}', /no measurements given/],
    ['{"": "12 ml"}', /name is empty/],
  ])('%s', (text, message) => rejects(text, message));

  it('rejects payloads over 64 KiB', () => {
    rejects(JSON.stringify({ X: `1 ml${' '.repeat(70_000)}` }), /at most 65536 bytes, got 7\d{4}/);
  });

  it('rejects names that would not fit the private tags', () => {
    expect(() => buildSet([{ name: 'x'.repeat(41), value: '1 ml' }])).toThrow(/longer than 40 characters/);
  });

  it('reads --measure name=value', () => {
    expect(parseNamedValue('Spleen=180 ml')).toEqual({ name: 'Spleen', value: '180 ml' });
    expect(() => parseNamedValue('180 ml')).toThrow(/needs "<name>=<value> <unit>", got "180 ml"/);
  });
});

describe('decimal shifting', () => {
  it('never goes through floating point', () => {
    expect(shiftDecimal('0.1234', 3)).toBe('123.4');
    expect(shiftDecimal('.5', 3)).toBe('500');
    expect(shiftDecimal('007.25', 0)).toBe('7.25');
  });
});
