/**
 * The reader of the original tool's KidneyVolInfo block (issue 16, part 2), on images written by
 * dcmtk's dump2dcm: found by its creator wherever it sits, lines parsed by the measurement parser,
 * our own step's block ignored; property tests over lines and a bounded byte-level fuzz test.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Part10FormatError } from '../../src/dicom/private-tags/errors.js';
import { readLegacyBlock, splitLine } from '../../src/dicom/private-tags/legacy.js';
import { legacySource } from '../../src/inputs/legacy-tags.js';
import { legacySeries, type LegacySeriesSpec } from '../fixtures/legacy-images.js';
import { uid } from '../fixtures/vendor-sr.js';

const IMAGE = { seriesInstanceUid: '1.2', orthancSeriesId: 's', sopInstanceUid: '1.2.3', orthancInstanceId: 'i' };

function image(spec: Partial<LegacySeriesSpec> = {}): Buffer {
  return legacySeries({ studyInstanceUid: uid(), patientId: 'P', lines: ['Right Kidney: 125 ml', 'Left Kidney: 132 ml'], layout: 'plain', images: 1, ...spec }).files[0] as Buffer;
}

describe('readLegacyBlock', () => {
  it.each([
    ['plain, explicit VR', { layout: 'plain' }, 0x10],
    ['over GE creator, GE leftover after a gap', { layout: 'over-ge' }, 0x10],
    ['after GE creator at (0011,0011)', { layout: 'after-ge' }, 0x11],
    ['over GE creator, implicit VR', { layout: 'over-ge', implicit: true }, 0x10],
    ['after GE creator, implicit VR', { layout: 'after-ge', implicit: true }, 0x11],
  ] as const)('finds the block by its creator: %s', (_name, spec, slot) => {
    const reading = readLegacyBlock(image(spec));
    expect(reading).toEqual({ kind: 'lines', slot, lines: [{ text: 'Right Kidney: 125 ml', name: 'Right Kidney', value: '125 ml' }, { text: 'Left Kidney: 132 ml', name: 'Left Kidney', value: '132 ml' }] });
    const source = legacySource(reading, IMAGE);
    expect(source.kind).toBe('mark');
    if (source.kind !== 'mark') return;
    expect(source.mark.set.measurements.map((m) => [m.name, m.valueMl, m.anatomy, m.method, m.source])).toEqual([
      ['Right Kidney', '125', 'right-kidney', 'original tool (private tags)', 'KidneyVolInfo'],
      ['Left Kidney', '132', 'left-kidney', 'original tool (private tags)', 'KidneyVolInfo'],
    ]);
    expect(source.origin).toMatchObject({ kind: 'legacy-tags', creator: `(0011,00${slot.toString(16)})` });
  });

  it('ignores a block written by our own private-tag step (it carries the digest)', () => {
    expect(readLegacyBlock(image({ withDigest: 'a'.repeat(64) }))).toEqual({ kind: 'ours', slot: 0x10 });
  });

  it('answers none for an image with only GE in group 0011, and unsure for a creator without lines', () => {
    expect(readLegacyBlock(image({ layout: 'ge-only' })).kind).toBe('none');
    expect(readLegacyBlock(image({ lines: [], layout: 'plain' }))).toMatchObject({ kind: 'unsure', reason: expect.stringContaining('has no text line at (0011,1010)') });
  });

  it('reports lines the parser refuses instead of guessing', () => {
    const reading = readLegacyBlock(image({ lines: ['Right Kidney: 125 ml', 'Left Kidney: about 130'] }));
    const source = legacySource(reading, IMAGE);
    expect(source).toMatchObject({ kind: 'ignored', reason: expect.stringContaining('is not acceptable: "Left Kidney": volume "about 130" has no unit') });
    expect(legacySource(readLegacyBlock(image({ lines: ['Right Kidney 125 ml'] })), IMAGE)).toMatchObject({ kind: 'ignored', reason: expect.stringContaining('is not "<name>: <volume> <unit>"') });
  });

  it('splits at the last colon, so names may hold one', () => {
    expect(splitLine('Kidney (R): 12.5 cm3')).toEqual({ text: 'Kidney (R): 12.5 cm3', name: 'Kidney (R)', value: '12.5 cm3' });
    expect(typeof splitLine(': 5 ml')).toBe('string');
  });
});

describe('readLegacyBlock properties', () => {
  it('gives back any lines the tool could have written, in order, through the parser', () => {
    const name = fc.constantFrom('Right Kidney', 'Left Kidney', 'Total Volume', 'Spleen', 'Cyst 1');
    const value = fc.tuple(fc.integer({ min: 1, max: 4999 }), fc.constantFrom('', '.5', '.25')).map(([w, f]) => `${w}${f}`);
    fc.assert(
      fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 4 }), fc.array(value, { minLength: 4, maxLength: 4 }), fc.constantFrom<LegacySeriesSpec['layout']>('plain', 'over-ge', 'after-ge'), (names, values, layout) => {
        const lines = names.map((n, i) => `${n}: ${values[i]} ml`);
        const source = legacySource(readLegacyBlock(image({ lines, layout })), IMAGE);
        expect(source.kind).toBe('mark');
        if (source.kind === 'mark') expect(new Set(source.mark.set.measurements.map((m) => `${m.name}: ${m.valueMl} ml`))).toEqual(new Set(lines));
      }),
      // Each run calls dump2dcm once: few runs, fixed seed.
      { seed: 1602, numRuns: 15 },
    );
  });
});

describe('readLegacyBlock fuzz (fixed seed, bounded)', () => {
  it('on 500 byte-mutated images answers a reading or a Part10FormatError, nothing else', () => {
    const bases = [image({ layout: 'over-ge' }), image({ layout: 'after-ge', implicit: true })];
    fc.assert(
      fc.property(fc.nat(1), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.option(fc.nat(), { nil: undefined }), (which, edits, cut) => {
        const bytes = Buffer.from(bases[which] as Buffer);
        for (const [at, value] of edits) bytes[132 + (at % (bytes.length - 132))] = value;
        const input = cut === undefined ? bytes : bytes.subarray(0, 132 + (cut % (bytes.length - 132)));
        try {
          const reading = readLegacyBlock(input);
          expect(['none', 'ours', 'unsure', 'lines']).toContain(reading.kind);
          if (reading.kind === 'lines') legacySource(reading, IMAGE);
        } catch (error) {
          expect(error).toBeInstanceOf(Part10FormatError);
        }
      }),
      { seed: 1603, numRuns: 500 },
    );
  });
});
