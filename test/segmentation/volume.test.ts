import { describe, expect, it } from 'vitest';
import { decodePart10 } from '../../src/dicom/part10.js';
import { parseMeasurementsJson } from '../../src/measurements/parse.js';
import { countBits } from '../../src/segmentation/frames.js';
import { segmentationMark } from '../../src/segmentation/mark.js';
import { DEFAULT_SEGMENT_LABELS, matchKidneys, parseSegmentLabels } from '../../src/segmentation/match.js';
import { segmentationVolumes, type SegmentationVolumes } from '../../src/segmentation/volume.js';
import { buildSeg, expectedMl, type FixtureSeg } from '../fixtures/seg.js';
import { ctStudy } from '../fixtures/studies.js';

const study = { studyInstanceUid: '1.2.3.4' };

/** Builds, encodes, decodes and measures, so every test goes through the bytes a SEG tool would send. */
function measure(seg: FixtureSeg): SegmentationVolumes {
  const { meta, dataset } = decodePart10(buildSeg(study, ctStudy(1), seg).bytes);
  return segmentationVolumes(dataset, String(meta['TransferSyntaxUID']));
}

function ml(volumes: SegmentationVolumes, label: string): number {
  const found = volumes.segments.find((s) => s.segment.label === label);
  if (!found) throw new Error(`no segment ${label}`);
  return found.volumeMm3 / 1000;
}

// 5 x 7 = 35 pixels per frame: frames start in the middle of a byte, so bit packing across frame boundaries matters.
const binary: FixtureSeg = {
  type: 'BINARY',
  rows: 5,
  columns: 7,
  pixelSpacing: [0.8, 0.75],
  sliceSpacing: 2.5,
  spacingIn: 'SpacingBetweenSlices',
  segments: [
    { label: 'Right kidney', coding: 'right-kidney', algorithmName: 'KidneyNet 2', slices: [{ slice: 0, pixels: 35 }, { slice: 1, pixels: 17 }, { slice: 2, pixels: 3 }] },
    { label: 'Left kidney', coding: 'kidney+left', slices: [{ slice: 0, pixels: 1 }, { slice: 1, pixels: 34 }, { slice: 3, pixels: 21 }] },
    { label: 'Spleen', coding: 'spleen', slices: [{ slice: 2, pixels: 9 }] },
  ],
};

describe('segment volumes', () => {
  it('counts packed bits exactly across byte and frame boundaries', () => {
    const bytes = Uint8Array.from([0b1111_0000, 0xff, 0b0000_0111]);
    expect(countBits(bytes, 4, 15)).toBe(4 + 8 + 3);
    expect(countBits(bytes, 0, 4)).toBe(0);
    expect(countBits(bytes, 19, 5)).toBe(0);
  });

  it('measures binary segments: voxels times PixelSpacing times the distance between frame positions, in any frame order', () => {
    for (const order of ['listed', 'reversed', 'interleaved'] as const) {
      const volumes = measure({ ...binary, order });
      expect(volumes.type).toBe('BINARY');
      expect(volumes.spacingSources).toEqual(['ImagePositionPatient']);
      expect(volumes.segments.map((s) => s.voxels)).toEqual([55, 56, 9]);
      for (const label of ['Right kidney', 'Left kidney', 'Spleen']) expect(ml(volumes, label)).toBeCloseTo(expectedMl(binary, label), 9);
    }
  });

  it('issue 12 item 2: an overlapping reconstruction (2.5 mm apart, 5 mm thick, no SpacingBetweenSlices) counts each slice once', () => {
    // Before the fix SliceThickness won over the positions and this volume came out twice as large.
    const overlapping = measure({ ...binary, spacingIn: 'SliceThickness', sliceSpacing: 2.5, sliceThickness: 5, perFrameMeasures: true });
    expect(overlapping.spacingSources).toEqual(['ImagePositionPatient']);
    expect(overlapping.spacingNote).toBeUndefined();
    // 55 voxels of 0.8 x 0.75 x 2.5 mm: 82.5 mm³.
    expect(ml(overlapping, 'Right kidney')).toBeCloseTo((55 * 0.8 * 0.75 * 2.5) / 1000, 12);
  });

  it('takes SpacingBetweenSlices only when positions cannot give the spacing, or when stored slices skip empty ones', () => {
    const noPositions = measure({ ...binary, omitPositions: true });
    expect(noPositions.spacingSources).toEqual(['SpacingBetweenSlices']);
    expect(ml(noPositions, 'Left kidney')).toBeCloseTo(expectedMl(binary, 'Left kidney'), 9);
    // Only slices 0 and 2 are stored: positions say 5 mm, SpacingBetweenSlices says 2.5 mm, a whole fraction of it.
    const skipping: FixtureSeg = { ...binary, segments: [{ label: 'Right kidney', coding: 'right-kidney', slices: [{ slice: 0, pixels: 4 }, { slice: 2, pixels: 6 }] }] };
    const skipped = measure(skipping);
    expect(skipped.spacingSources).toEqual(['SpacingBetweenSlices']);
    expect(ml(skipped, 'Right kidney')).toBeCloseTo((10 * 0.8 * 0.75 * 2.5) / 1000, 12);
    // Without SpacingBetweenSlices a gap of two slices is still read as one: the stored slices are all there is.
    expect(measure({ ...skipping, spacingIn: 'positions' }).spacingSources).toEqual(['ImagePositionPatient']);
  });

  it('uses SliceThickness only for a single slice, and says so', () => {
    const single: FixtureSeg = { ...binary, spacingIn: 'SliceThickness', sliceThickness: 3, segments: [{ label: 'Right kidney', coding: 'right-kidney', slices: [{ slice: 0, pixels: 10 }] }] };
    const volumes = measure(single);
    expect(volumes.spacingSources).toEqual(['SliceThickness']);
    expect(volumes.spacingNote).toBe('single slice: depth from SliceThickness');
    expect(ml(volumes, 'Right kidney')).toBeCloseTo((10 * 0.8 * 0.75 * 3) / 1000, 12);
    const mark = segmentationMark(volumes, matchKidneys(volumes.segments, DEFAULT_SEGMENT_LABELS));
    expect(mark?.measurements[0]?.method).toBe('segmentation (single slice: depth from SliceThickness)');
    // Several slices without positions or SpacingBetweenSlices: thickness is not a distance between slices.
    expect(() => measure({ ...binary, spacingIn: 'SliceThickness', omitPositions: true })).toThrow(/cannot tell the spacing between slices: no usable ImagePositionPatient/);
  });

  it('refuses unevenly spaced slices with a message instead of guessing', () => {
    const uneven: FixtureSeg = { ...binary, spacingIn: 'positions', slicePositionsMm: [0, 2.5, 5, 8.1] };
    expect(() => measure(uneven)).toThrow('the frames\' slices are unevenly spaced along the slice normal (gaps of 2.5 mm and 3.1 mm between ImagePositionPatient values)');
  });

  it('counts fractional voxels as value / MaximumFractionalValue, in 8 and 16 bits', () => {
    const fractional: FixtureSeg = {
      ...binary,
      type: 'FRACTIONAL',
      maximumFractionalValue: 200,
      segments: [
        { label: 'kidney_right', coding: 'tissue', slices: [{ slice: 0, pixels: 35, value: 200 }, { slice: 1, pixels: 10, value: 50 }] },
        { label: 'kidney_left', coding: 'tissue', slices: [{ slice: 0, pixels: 20, value: 100 }] },
      ],
    };
    for (const bitsAllocated of [8, 16] as const) {
      const volumes = measure({ ...fractional, bitsAllocated, order: 'reversed' });
      expect(volumes.segments.map((s) => s.voxels)).toEqual([35 + 2.5, 10]);
      expect(ml(volumes, 'kidney_right')).toBeCloseTo(expectedMl(fractional, 'kidney_right'), 9);
    }
  });

  it('refuses what it cannot measure, saying what it found', () => {
    const { meta, dataset } = decodePart10(buildSeg(study, ctStudy(1), binary).bytes);
    expect(() => segmentationVolumes(dataset, '1.2.840.10008.1.2.4.50')).toThrow(/uncompressed little endian.*got transfer syntax 1\.2\.840\.10008\.1\.2\.4\.50/);
    expect(() => segmentationVolumes({ ...dataset, BitsAllocated: 8 }, String(meta['TransferSyntaxUID']))).toThrow('a BINARY SEG must have BitsAllocated 1, got 8');
    const single = buildSeg(study, ctStudy(1), { ...binary, spacingIn: 'positions', segments: [{ label: 'x', coding: 'tissue', slices: [{ slice: 0, pixels: 1 }] }] });
    expect(() => segmentationVolumes(single.dataset, '1.2.840.10008.1.2.1')).toThrow(/cannot tell the spacing between slices: every frame is on one slice/);
  });
});

describe('finding the kidneys', () => {
  it('matches pre-coordinated codes, Kidney with a laterality modifier, and anatomic region modifiers', () => {
    const volumes = measure(binary);
    const match = matchKidneys(volumes.segments, DEFAULT_SEGMENT_LABELS);
    expect([match.right?.volume.segment.number, match.right?.by]).toEqual([1, 'code']);
    expect([match.left?.volume.segment.number, match.left?.by]).toEqual([2, 'code']);
    const region = measure({ ...binary, segments: [{ ...binary.segments[1]!, coding: 'region-kidney+left', label: 'LK' }] });
    expect(matchKidneys(region.segments, DEFAULT_SEGMENT_LABELS).left?.by).toBe('code');
  });

  it('falls back to labels (configurable), prefers codes, and reports ambiguity', () => {
    const labelled = measure({
      ...binary,
      segments: [
        { label: 'Kidney_Right', coding: 'tissue', slices: [{ slice: 0, pixels: 3 }] },
        { label: 'niere links', coding: 'tissue', slices: [{ slice: 0, pixels: 4 }] },
      ],
    });
    expect(matchKidneys(labelled.segments, DEFAULT_SEGMENT_LABELS).right?.by).toBe('label');
    expect(matchKidneys(labelled.segments, DEFAULT_SEGMENT_LABELS).left).toBeUndefined();
    expect(matchKidneys(labelled.segments, parseSegmentLabels('left:Niere links')).left?.volume.segment.number).toBe(2);
    const twice = measure({ ...binary, segments: [binary.segments[0]!, { ...binary.segments[0]!, label: 'other' }] });
    expect(matchKidneys(twice.segments, DEFAULT_SEGMENT_LABELS).notes).toEqual(['right kidney is ambiguous: segments 1, 2 all match by code']);
    expect(() => parseSegmentLabels('middle:x')).toThrow(/right:<label>/);
  });
});

describe('the pending mark', () => {
  it('rounds to 0.01 mL, adds the total of the rounded sides, names method and source, and parses', () => {
    const volumes = measure({ ...binary, pixelSpacing: [10, 10], sliceSpacing: 5 });
    const mark = segmentationMark(volumes, matchKidneys(volumes.segments, DEFAULT_SEGMENT_LABELS));
    expect(mark?.measurements.map((m) => [m.name, m.value, m.anatomy, m.segments])).toEqual([
      ['Right Kidney', '27.50', 'right-kidney', [1]],
      ['Left Kidney', '28.00', 'left-kidney', [2]],
      ['Total Volume', '55.50', 'both-kidneys', [1, 2]],
    ]);
    expect(mark?.measurements[0]).toMatchObject({ method: 'segmentation', source: 'KidneyNet 2', unit: 'mL' });
    const set = parseMeasurementsJson(JSON.stringify(mark));
    expect(set.measurements[2]?.segmentation).toEqual({ seriesInstanceUid: volumes.seriesInstanceUid, sopInstanceUid: volumes.sopInstanceUid, segmentNumbers: [1, 2] });
  });

  it('gives no mark for a SEG without kidneys', () => {
    const volumes = measure({ ...binary, segments: [binary.segments[2]!] });
    expect(segmentationMark(volumes, matchKidneys(volumes.segments, DEFAULT_SEGMENT_LABELS))).toBeUndefined();
  });

  it('the parser checks the segmentation key and keeps digests of sets without one', () => {
    expect(() => parseMeasurementsJson('{"measurements":[{"name":"RK","value":1,"segments":[1]}]}')).toThrow('"RK": segments need a "segmentation" key beside "measurements"');
    expect(() => parseMeasurementsJson('{"measurements":[{"name":"RK","value":1}],"segmentation":{"seriesInstanceUid":"x","sopInstanceUid":"1.2"}}')).toThrow(
      'segmentation.seriesInstanceUid must be a DICOM UID, got "x"',
    );
    const plain = parseMeasurementsJson('{"measurements":[{"name":"Right Kidney","value":125}]}');
    const fromSeg = parseMeasurementsJson('{"measurements":[{"name":"Right Kidney","value":125}],"segmentation":{"seriesInstanceUid":"1.2","sopInstanceUid":"1.3"}}');
    expect(plain.digest).toBe(parseMeasurementsJson('{"Right Kidney": 125}').digest);
    expect(fromSeg.digest).not.toBe(plain.digest);
  });
});
