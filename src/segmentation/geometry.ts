/**
 * Voxel size of each SEG frame from the Multi-frame Functional Groups (PS3.3 C.7.6.16): Pixel
 * Measures (PixelSpacing, SpacingBetweenSlices, SliceThickness), Plane Position and Plane
 * Orientation, per frame or shared, the per-frame value winning.
 *
 * The depth of a voxel is the distance between slices, never the slice thickness: reconstructions
 * overlap (5 mm thick every 2.5 mm) or leave gaps, and thickness would count tissue twice or miss it.
 * As highdicom and dcmqi do, the distance comes from the frames' ImagePositionPatient projected on
 * the normal of ImageOrientationPatient; SpacingBetweenSlices only when positions cannot give it;
 * SliceThickness only for a SEG of one slice, and the measurement then says so.
 */
import { itemsOf, numberOf, numbersOf, SegmentationError } from './iod.js';

/** Positions closer than this (mm) along the slice normal are the same slice (DS values are rounded). */
const SAME_SLICE_MM = 0.01;
/** How far (as a fraction of the spacing) a gap may be from a whole number of slices and still be one. */
const GAP_TOLERANCE = 0.01;
/** Largest difference between two frames' direction cosines that still counts as parallel. */
const PARALLEL_TOLERANCE = 1e-4;

/** Where the slice spacing came from, for logs, tests and the status. */
export type SpacingSource = 'SpacingBetweenSlices' | 'SliceThickness' | 'ImagePositionPatient';

/** The distance between slices of a SEG. */
export interface SliceSpacing {
  readonly mm: number;
  readonly source: SpacingSource;
  /** Said to people when the depth is not a measured distance between slices (a single slice). */
  readonly note?: string;
}

/** The voxel size of one frame. */
export interface FrameVoxel {
  /** Voxel volume in mm³. */
  readonly volumeMm3: number;
  readonly spacingSource: SpacingSource;
}

/** What the note says when a single slice's depth is its SliceThickness. */
export const SINGLE_SLICE_NOTE = 'single slice: depth from SliceThickness';

/** The first item of a functional group macro sequence in a per-frame or shared group item. */
function macro(group: Record<string, unknown> | undefined, sequence: string): Record<string, unknown> | undefined {
  return group ? itemsOf(group[sequence])[0] : undefined;
}

/** A functional group attribute for one frame: per-frame first, then shared. */
function attribute(shared: Record<string, unknown> | undefined, perFrame: Record<string, unknown> | undefined, sequence: string, keyword: string): unknown {
  const own = macro(perFrame, sequence)?.[keyword];
  return own !== undefined && own !== null && own !== '' ? own : macro(shared, sequence)?.[keyword];
}

/** Voxel volume of every frame: its PixelSpacing times the SEG's slice spacing. */
export function frameVoxels(dataset: Record<string, unknown>, frames: number): FrameVoxel[] {
  const shared = itemsOf(dataset['SharedFunctionalGroupsSequence'])[0];
  const perFrame = itemsOf(dataset['PerFrameFunctionalGroupsSequence']);
  const spacing = sliceSpacing(shared, perFrame, frames);
  const result: FrameVoxel[] = [];
  for (let i = 0; i < frames; i++) {
    const pixel = numbersOf(attribute(shared, perFrame[i], 'PixelMeasuresSequence', 'PixelSpacing'), 2);
    if (!pixel || !(pixel[0]! > 0 && pixel[1]! > 0)) {
      throw new SegmentationError(`frame ${i + 1} has no positive PixelSpacing in the shared or per-frame Pixel Measures`);
    }
    result.push({ volumeMm3: pixel[0]! * pixel[1]! * spacing.mm, spacingSource: spacing.source });
  }
  return result;
}

/** The distance between the SEG's slices, or a SegmentationError saying why it cannot be told. */
export function sliceSpacing(shared: Record<string, unknown> | undefined, perFrame: readonly Record<string, unknown>[], frames: number): SliceSpacing {
  const between = sameForAll(frames, (i) => positive(numberOf(attribute(shared, perFrame[i], 'PixelMeasuresSequence', 'SpacingBetweenSlices'))));
  const thickness = sameForAll(frames, (i) => positive(numberOf(attribute(shared, perFrame[i], 'PixelMeasuresSequence', 'SliceThickness'))));
  const slices = slicePositions(shared, perFrame, frames);
  if (slices.length >= 2) {
    const gaps = slices.slice(1).map((p, i) => p - slices[i]!);
    const base = Math.min(...gaps);
    const uneven = gaps.find((g) => !isWholeMultiple(g, base));
    if (uneven !== undefined) {
      throw new SegmentationError(
        `the frames' slices are unevenly spaced along the slice normal (gaps of ${round(base)} mm and ${round(uneven)} mm between ImagePositionPatient values); ` +
          'a volume from unevenly spaced slices is not measured',
      );
    }
    // SEGs leave out empty slices: when every stored slice is k slices apart, SpacingBetweenSlices says the real step.
    if (between !== undefined && between < base - SAME_SLICE_MM && isWholeMultiple(base, between)) return { mm: between, source: 'SpacingBetweenSlices' };
    return { mm: base, source: 'ImagePositionPatient' };
  }
  if (between !== undefined) return { mm: between, source: 'SpacingBetweenSlices' };
  if (thickness !== undefined && (slices.length === 1 || frames === 1)) return { mm: thickness, source: 'SliceThickness', note: SINGLE_SLICE_NOTE };
  throw new SegmentationError(
    slices.length === 1
      ? 'cannot tell the spacing between slices: every frame is on one slice and there is neither SpacingBetweenSlices nor SliceThickness'
      : 'cannot tell the spacing between slices: no usable ImagePositionPatient with ImageOrientationPatient on every frame, and no SpacingBetweenSlices',
  );
}

/**
 * The distinct positions of the frames along the slice normal, ascending; empty when any frame
 * lacks a position or an orientation. Frames that are not parallel are refused: no spacing fits them.
 */
export function slicePositions(shared: Record<string, unknown> | undefined, perFrame: readonly Record<string, unknown>[], frames: number): number[] {
  const projected: number[] = [];
  let first: number[] | undefined;
  for (let i = 0; i < frames; i++) {
    const position = numbersOf(attribute(shared, perFrame[i], 'PlanePositionSequence', 'ImagePositionPatient'), 3);
    const orientation = numbersOf(attribute(shared, perFrame[i], 'PlaneOrientationSequence', 'ImageOrientationPatient'), 6);
    const normal = orientation ? unitNormal(orientation) : undefined;
    if (!position || !normal) return [];
    first ??= orientation;
    if (orientation!.some((v, k) => Math.abs(v - first![k]!) > PARALLEL_TOLERANCE)) {
      throw new SegmentationError(`frame ${i + 1} has another ImageOrientationPatient than frame 1; a SEG whose frames are not parallel is not measured`);
    }
    projected.push(position[0]! * normal[0]! + position[1]! * normal[1]! + position[2]! * normal[2]!);
  }
  projected.sort((a, b) => a - b);
  const distinct: number[] = [];
  for (const p of projected) if (distinct.length === 0 || p - distinct[distinct.length - 1]! > SAME_SLICE_MM) distinct.push(p);
  return distinct;
}

/** The value every frame has, undefined when none has one; frames that disagree make it unusable. */
function sameForAll(frames: number, valueOf: (frame: number) => number | undefined): number | undefined {
  const values = new Set<number>();
  for (let i = 0; i < frames; i++) {
    const v = valueOf(i);
    if (v !== undefined) values.add(v);
  }
  return values.size === 1 ? [...values][0] : undefined;
}

/** True when gap is a whole number (at least one) of steps, within the rounding of DS values. */
function isWholeMultiple(gap: number, step: number): boolean {
  const k = Math.round(gap / step);
  return k >= 1 && Math.abs(gap - k * step) <= Math.max(SAME_SLICE_MM, GAP_TOLERANCE * step);
}

/** The unit normal of the row and column direction cosines, or undefined when they are degenerate. */
function unitNormal(orientation: readonly number[]): number[] | undefined {
  const [a0, a1, a2, b0, b1, b2] = orientation as [number, number, number, number, number, number];
  const n = [a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0];
  const length = Math.hypot(n[0]!, n[1]!, n[2]!);
  return length > 1e-6 ? n.map((v) => v / length) : undefined;
}

function positive(n: number | undefined): number | undefined {
  return n !== undefined && n > 0 ? n : undefined;
}

function round(mm: number): number {
  return Math.round(mm * 1000) / 1000;
}
