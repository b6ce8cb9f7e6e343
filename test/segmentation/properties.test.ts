/**
 * SEG volumes against an independent computation (issue 12, "Hunt for the next ones"): random
 * masks, pixel spacings, slice spacings, orientations and frame orders, written as real Part-10
 * bytes and measured; and a bounded fuzz of broken SEGs (truncated, wrong NumberOfFrames, short
 * pixel data, headers claiming gigabytes), each of which must be refused with a SegmentationError,
 * never a crash or a huge allocation. Fixed seed, bounded runs; KV_FUZZ_RUNS searches longer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePart10, encodePart10, type NaturalDataset } from '../../src/dicom/part10.js';
import { KidneyVolumesError } from '../../src/errors.js';
import { SEGMENTATION_SOP_CLASS_UID } from '../../src/dicom/sop-classes.js';
import { SegmentationError } from '../../src/segmentation/iod.js';
import { segmentationVolumes } from '../../src/segmentation/volume.js';

const RUNS = Number(process.env['KV_FUZZ_RUNS'] ?? 60);
const PARAMS = { seed: 20261129, numRuns: RUNS } as const;
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

/** A random SEG as the test sees it: which voxels of which segment are set, and the geometry. */
interface RandomSeg {
  readonly rows: number;
  readonly columns: number;
  readonly slices: number;
  readonly pixelSpacing: readonly [number, number];
  readonly sliceSpacing: number;
  /** Row and column direction cosines (orthonormal). */
  readonly orientation: readonly number[];
  readonly origin: readonly [number, number, number];
  readonly fractional: false | 8 | 16;
  readonly maximum: number;
  /** masks[segment][slice]: stored values per pixel (0/1 for binary), or undefined when the frame is left out. */
  readonly masks: readonly (readonly (readonly number[] | undefined)[])[];
  /** A permutation of the stored frames' indices. */
  readonly order: readonly number[];
  readonly writeSpacingBetweenSlices: boolean;
  /** SliceThickness written: any value, it must not change a multi-slice volume. */
  readonly thickness: number;
}

/** An orthonormal pair of direction cosines from two angles and a tilt, rounded as a DS would be. */
function orientationOf(a: number, b: number, c: number): number[] {
  const row = [Math.cos(a) * Math.cos(b), Math.sin(a) * Math.cos(b), Math.sin(b)];
  const helper = Math.abs(row[2]!) < 0.9 ? [0, 0, 1] : [1, 0, 0];
  const n = cross(row, helper);
  const nl = Math.hypot(...n);
  const perp = cross(n.map((v) => v / nl), row);
  const column = perp.map((v, i) => v * Math.cos(c) + (n[i]! / nl) * Math.sin(c));
  return [...row, ...column].map((v) => Number(v.toFixed(8)));
}

function cross(a: readonly number[], b: readonly number[]): number[] {
  return [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
}

const randomSeg: fc.Arbitrary<RandomSeg> = fc
  .record({
    rows: fc.integer({ min: 1, max: 9 }),
    columns: fc.integer({ min: 1, max: 9 }),
    slices: fc.integer({ min: 2, max: 6 }),
    segments: fc.integer({ min: 1, max: 3 }),
    pixelSpacing: fc.tuple(fc.integer({ min: 1, max: 4000 }), fc.integer({ min: 1, max: 4000 })).map(([a, b]) => [a / 1000, b / 1000] as const),
    sliceSpacing: fc.integer({ min: 200, max: 8000 }).map((n) => n / 1000),
    angles: fc.tuple(fc.double({ min: -3, max: 3, noNaN: true }), fc.double({ min: -1.4, max: 1.4, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true })),
    origin: fc.tuple(fc.integer({ min: -400, max: 400 }), fc.integer({ min: -400, max: 400 }), fc.integer({ min: -400, max: 400 })),
    fractional: fc.constantFrom(false as const, 8 as const, 16 as const),
    maximum: fc.integer({ min: 1, max: 255 }),
    seed: fc.integer(),
    writeSpacingBetweenSlices: fc.boolean(),
    thickness: fc.integer({ min: 1, max: 10_000 }).map((n) => n / 1000),
  })
  .chain((g) => {
    const size = g.rows * g.columns;
    const pixel = g.fractional === false ? fc.integer({ min: 0, max: 1 }) : fc.integer({ min: 0, max: g.maximum });
    // Each segment has each slice stored or left out. Segment 1 stores slices 0, 1 and the last, so that
    // the positions span the volume and two of them are one slice apart: when no two stored slices are
    // adjacent and SpacingBetweenSlices is absent, nothing in a SEG tells the real step (a documented limit).
    const frame = fc.option(fc.array(pixel, { minLength: size, maxLength: size }), { nil: undefined, freq: 3 });
    const masks = fc.array(fc.array(frame, { minLength: g.slices, maxLength: g.slices }), { minLength: g.segments, maxLength: g.segments }).map((m) =>
      m.map((segment, s) => segment.map((f, slice) => (s === 0 && (slice <= 1 || slice === g.slices - 1) && f === undefined ? new Array<number>(size).fill(0) : f))),
    );
    return masks.chain((m) => {
      const stored = m.flat().filter((f) => f !== undefined).length;
      return fc.shuffledSubarray([...Array(stored).keys()], { minLength: stored, maxLength: stored }).map((order) => ({
        rows: g.rows,
        columns: g.columns,
        slices: g.slices,
        pixelSpacing: g.pixelSpacing,
        sliceSpacing: g.sliceSpacing,
        orientation: orientationOf(...g.angles),
        origin: g.origin,
        fractional: g.fractional,
        maximum: g.maximum,
        masks: m,
        order,
        writeSpacingBetweenSlices: g.writeSpacingBetweenSlices,
        thickness: g.thickness,
      }));
    });
  });

/** The test's own volume: sum of voxel fractions times pixel area times slice spacing, per segment, in mm³. */
function expectedVolumes(seg: RandomSeg): number[] {
  const max = seg.fractional === false ? 1 : seg.maximum;
  return seg.masks.map((segment) => {
    let sum = 0;
    for (const frame of segment) for (const v of frame ?? []) sum += v / max;
    return sum * seg.pixelSpacing[0] * seg.pixelSpacing[1] * seg.sliceSpacing;
  });
}

/** Writes the random SEG as a dataset, independently of test/fixtures/seg.ts. */
function datasetOf(seg: RandomSeg): NaturalDataset {
  const frames: { segment: number; slice: number; values: readonly number[] }[] = [];
  seg.masks.forEach((segment, s) => segment.forEach((values, slice) => values && frames.push({ segment: s + 1, slice, values })));
  const ordered = seg.order.map((i) => frames[i]!);
  const normal = cross(seg.orientation.slice(0, 3), seg.orientation.slice(3, 6));
  const size = seg.rows * seg.columns;
  const bits = seg.fractional === false ? 1 : seg.fractional;
  const bytes = new Uint8Array(Math.ceil((ordered.length * size * bits) / 8 / 2) * 2);
  ordered.forEach((f, n) =>
    f.values.forEach((v, p) => {
      const at = n * size + p;
      if (bits === 1) bytes[at >> 3] = bytes[at >> 3]! | (v << (at & 7));
      else if (bits === 8) bytes[at] = v;
      else new DataView(bytes.buffer).setUint16(at * 2, v, true);
    }),
  );
  const ds = (v: number) => String(Number(v.toFixed(6)));
  return {
    SOPClassUID: SEGMENTATION_SOP_CLASS_UID,
    SOPInstanceUID: '1.2.3.4.5',
    StudyInstanceUID: '1.2.3',
    SeriesInstanceUID: '1.2.3.4',
    Modality: 'SEG',
    Rows: seg.rows,
    Columns: seg.columns,
    BitsAllocated: bits,
    BitsStored: bits,
    HighBit: bits - 1,
    SamplesPerPixel: 1,
    PixelRepresentation: 0,
    PhotometricInterpretation: 'MONOCHROME2',
    SegmentationType: seg.fractional === false ? 'BINARY' : 'FRACTIONAL',
    ...(seg.fractional === false ? {} : { SegmentationFractionalType: 'PROBABILITY', MaximumFractionalValue: seg.maximum }),
    NumberOfFrames: String(ordered.length),
    SegmentSequence: seg.masks.map((_, s) => ({ SegmentNumber: s + 1, SegmentLabel: `segment ${s + 1}` })),
    SharedFunctionalGroupsSequence: [
      {
        PlaneOrientationSequence: [{ ImageOrientationPatient: seg.orientation.map(String) }],
        PixelMeasuresSequence: [
          {
            PixelSpacing: seg.pixelSpacing.map(ds),
            SliceThickness: ds(seg.thickness),
            ...(seg.writeSpacingBetweenSlices ? { SpacingBetweenSlices: ds(seg.sliceSpacing) } : {}),
          },
        ],
      },
    ],
    PerFrameFunctionalGroupsSequence: ordered.map((f) => ({
      PlanePositionSequence: [{ ImagePositionPatient: seg.origin.map((o, k) => ds(o + f.slice * seg.sliceSpacing * normal[k]!)) }],
      SegmentIdentificationSequence: [{ ReferencedSegmentNumber: f.segment }],
    })),
    PixelData: [bytes.buffer],
    _vrMap: { PixelData: bits === 16 ? 'OW' : 'OB' },
  };
}

/** Encodes and decodes, so the reader sees what a SEG tool would send. */
function roundTrip(dataset: NaturalDataset): NaturalDataset {
  return decodePart10(encodePart10(dataset)).dataset;
}

describe('SEG volume properties', () => {
  it('every segment volume equals the independent sum of voxel fractions times voxel size, whatever the orientation, order and SliceThickness', () => {
    fc.assert(
      fc.property(randomSeg, (seg) => {
        const volumes = segmentationVolumes(roundTrip(datasetOf(seg)), EXPLICIT_LE);
        const expected = expectedVolumes(seg);
        expect(volumes.segments.map((s) => s.segment.number)).toEqual(seg.masks.map((_, i) => i + 1));
        volumes.segments.forEach((s, i) => {
          // Positions are written with 6 decimals: the measured spacing may differ by a few µm.
          expect(Math.abs(s.volumeMm3 - expected[i]!)).toBeLessThanOrEqual(Math.max(1e-9, expected[i]! * 1e-5));
        });
        expect(volumes.spacingSources).not.toContain('SliceThickness');
      }),
      PARAMS,
    );
  });

  it('slices at uneven distances are refused with a message, never measured with a guessed spacing', () => {
    fc.assert(
      fc.property(randomSeg, fc.integer({ min: 150, max: 850 }), (seg, fraction) => {
        // With two slices there is one gap, which is even whatever it is.
        fc.pre(seg.slices >= 3);
        const dataset = datasetOf(seg);
        const frames = dataset['PerFrameFunctionalGroupsSequence'] as NaturalDataset[];
        // Move the last slice's frames by a fraction of a slice: the gaps are no longer whole steps.
        const normal = cross(seg.orientation.slice(0, 3), seg.orientation.slice(3, 6));
        const last = seg.slices - 1;
        const order = seg.masks.flatMap((segment, s) => segment.flatMap((f, slice) => (f ? [{ s, slice }] : [])));
        seg.order.forEach((i, n) => {
          if (order[i]!.slice !== last) return;
          const position = seg.origin.map((o, k) => String(Number((o + (last + fraction / 1000) * seg.sliceSpacing * normal[k]!).toFixed(6))));
          frames[n]!['PlanePositionSequence'] = [{ ImagePositionPatient: position }];
        });
        expect(() => segmentationVolumes(roundTrip(dataset), EXPLICIT_LE)).toThrow(/unevenly spaced/);
      }),
      { ...PARAMS, numRuns: Math.ceil(RUNS / 2) },
    );
  });
});

/** A valid small SEG to break. */
const VALID: RandomSeg = {
  rows: 4,
  columns: 5,
  slices: 3,
  pixelSpacing: [0.7, 0.7],
  sliceSpacing: 2.5,
  orientation: [1, 0, 0, 0, 1, 0],
  origin: [0, 0, 0],
  fractional: false,
  maximum: 1,
  masks: [[new Array<number>(20).fill(1), new Array<number>(20).fill(0), new Array<number>(20).fill(1)]],
  order: [0, 1, 2],
  writeSpacingBetweenSlices: false,
  thickness: 5,
};

/** Measures bytes as the sidecar's trigger does: decode, then measure. Only the measuring must refuse cleanly. */
function measureBytes(bytes: Uint8Array): 'measured' | 'undecodable' | string {
  let dataset: NaturalDataset;
  try {
    dataset = decodePart10(bytes).dataset;
  } catch {
    // dcmjs refusing broken bytes is fine: the trigger records the reason and goes on.
    return 'undecodable';
  }
  try {
    segmentationVolumes(dataset, EXPLICIT_LE);
    return 'measured';
  } catch (error) {
    if (error instanceof KidneyVolumesError) return error.message;
    throw error;
  }
}

describe('SEG fuzz', () => {
  const bytes = encodePart10(datasetOf(VALID));

  it('truncated or corrupted SEG bytes are refused or measured, never a crash', () => {
    const mutated = fc.oneof(
      fc.nat({ max: bytes.length }).map((n) => bytes.subarray(0, n)),
      fc.tuple(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
        const copy = Uint8Array.from(bytes);
        copy[i] = v;
        return copy;
      }),
    );
    fc.assert(fc.property(mutated, (b) => void measureBytes(b)), { ...PARAMS, numRuns: RUNS * 4 });
  });

  it('wrong NumberOfFrames, short pixel data, and odd headers are refused with a SegmentationError', () => {
    const header = fc.record({
      NumberOfFrames: fc.oneof(fc.integer({ min: -2, max: 10 }).map(String), fc.constantFrom('', 'x', '1e3', '2147483647')),
      Rows: fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.constant(4)),
      Columns: fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.constant(5)),
      cut: fc.nat({ max: 8 }),
    });
    fc.assert(
      fc.property(header, (h) => {
        const dataset = { ...datasetOf(VALID), NumberOfFrames: h.NumberOfFrames, Rows: h.Rows, Columns: h.Columns };
        const decoded = roundTrip(dataset);
        const pixels = new Uint8Array((decoded['PixelData'] as ArrayBuffer[])[0]!);
        decoded['PixelData'] = [pixels.slice(0, Math.max(0, pixels.length - h.cut)).buffer];
        const intact = h.NumberOfFrames === '3' && h.Rows === 4 && h.Columns === 5 && h.cut <= 0;
        if (intact) return;
        // Any other header or length is wrong for these 60 bits of pixel data, except a cut of the padding byte.
        try {
          segmentationVolumes(decoded, EXPLICIT_LE);
          expect([h.NumberOfFrames, h.Rows, h.Columns, h.cut <= 1]).toEqual(['3', 4, 5, true]);
        } catch (error) {
          expect(error).toBeInstanceOf(SegmentationError);
        }
      }),
      { ...PARAMS, numRuns: RUNS * 4 },
    );
  });
});

describe('SEG regressions', () => {
  it('issue 12: Rows x Columns x NumberOfFrames claiming gigabytes is refused before anything of that size is allocated', () => {
    const dataset = { ...roundTrip(datasetOf(VALID)), Rows: 65535, Columns: 65535, NumberOfFrames: '100000' };
    const before = process.memoryUsage().arrayBuffers;
    expect(() => segmentationVolumes(dataset, EXPLICIT_LE)).toThrow(
      'Rows x Columns x NumberOfFrames (65535 x 65535 x 100000 at 1 bits) claims 53685452812500 bytes of pixel data, more than the 1073741824 this reader accepts',
    );
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('issue 12: a NumberOfFrames that disagrees with the per-frame groups is refused (frames would go unmeasured)', () => {
    const dataset = { ...roundTrip(datasetOf(VALID)), NumberOfFrames: '2' };
    expect(() => segmentationVolumes(dataset, EXPLICIT_LE)).toThrow('NumberOfFrames is 2 but the PerFrameFunctionalGroupsSequence has 3 items; they must be equal');
  });

  it('issue 12: pixel data shorter than declared is refused', () => {
    const dataset = roundTrip(datasetOf(VALID));
    dataset['PixelData'] = [new Uint8Array(4).buffer];
    expect(() => segmentationVolumes(dataset, EXPLICIT_LE)).toThrow('PixelData must hold 8 bytes for 3 frames of 4x5 at 1 bits, got 4');
  });
});
