/**
 * Voxel size of each SEG frame from the Multi-frame Functional Groups (PS3.3 C.7.6.16): Pixel
 * Measures (PixelSpacing, SpacingBetweenSlices, SliceThickness), Plane Position and Plane
 * Orientation, per frame or shared, the per-frame value winning.
 */
import { itemsOf, numberOf, numbersOf, SegmentationError } from './iod.js';

/** Positions closer than this (mm) along the slice normal are the same slice. */
const SAME_SLICE_MM = 1e-3;

/** Where the voxel size of a frame came from, for logs and tests. */
export type SpacingSource = 'SpacingBetweenSlices' | 'SliceThickness' | 'ImagePositionPatient';

/** The voxel size of one frame. */
export interface FrameVoxel {
  /** Voxel volume in mm³. */
  readonly volumeMm3: number;
  readonly spacingSource: SpacingSource;
}

/** The first item of a functional group macro sequence in a per-frame or shared group item. */
function macro(group: Record<string, unknown> | undefined, sequence: string): Record<string, unknown> | undefined {
  return group ? itemsOf(group[sequence])[0] : undefined;
}

/** A functional group attribute for one frame: per-frame first, then shared. */
function attribute(shared: Record<string, unknown> | undefined, perFrame: Record<string, unknown> | undefined, sequence: string, keyword: string): unknown {
  const own = macro(perFrame, sequence)?.[keyword];
  return own !== undefined && own !== null && own !== '' ? own : macro(shared, sequence)?.[keyword];
}

/**
 * Voxel volume of every frame. The slice spacing is SpacingBetweenSlices, else SliceThickness, else
 * the smallest distance between distinct frame positions along the slice normal: SEGs often leave
 * out empty slices, so consecutive stored frames may be several slices apart, never closer than one.
 */
export function frameVoxels(dataset: Record<string, unknown>, frames: number): FrameVoxel[] {
  const shared = itemsOf(dataset['SharedFunctionalGroupsSequence'])[0];
  const perFrame = itemsOf(dataset['PerFrameFunctionalGroupsSequence']);
  let derived: number | undefined;
  const result: FrameVoxel[] = [];
  for (let i = 0; i < frames; i++) {
    const own = perFrame[i];
    const spacing = numbersOf(attribute(shared, own, 'PixelMeasuresSequence', 'PixelSpacing'), 2);
    if (!spacing || !(spacing[0]! > 0 && spacing[1]! > 0)) {
      throw new SegmentationError(`frame ${i + 1} has no positive PixelSpacing in the shared or per-frame Pixel Measures`);
    }
    const between = positive(numberOf(attribute(shared, own, 'PixelMeasuresSequence', 'SpacingBetweenSlices')));
    const thickness = positive(numberOf(attribute(shared, own, 'PixelMeasuresSequence', 'SliceThickness')));
    let depth: number;
    let spacingSource: SpacingSource;
    if (between !== undefined) [depth, spacingSource] = [between, 'SpacingBetweenSlices'];
    else if (thickness !== undefined) [depth, spacingSource] = [thickness, 'SliceThickness'];
    else [depth, spacingSource] = [(derived ??= spacingFromPositions(shared, perFrame, frames)), 'ImagePositionPatient'];
    result.push({ volumeMm3: spacing[0]! * spacing[1]! * depth, spacingSource });
  }
  return result;
}

/** The smallest gap between distinct frame positions projected on the slice normal. */
export function spacingFromPositions(shared: Record<string, unknown> | undefined, perFrame: readonly Record<string, unknown>[], frames: number): number {
  const positions: number[] = [];
  for (let i = 0; i < frames; i++) {
    const position = numbersOf(attribute(shared, perFrame[i], 'PlanePositionSequence', 'ImagePositionPatient'), 3);
    if (!position) continue;
    const orientation = numbersOf(attribute(shared, perFrame[i], 'PlaneOrientationSequence', 'ImageOrientationPatient'), 6);
    // Without an orientation, assume axial slices (normal along z), the common case for kidneys.
    const normal = orientation ? cross(orientation.slice(0, 3), orientation.slice(3, 6)) : [0, 0, 1];
    positions.push(position[0]! * normal[0]! + position[1]! * normal[1]! + position[2]! * normal[2]!);
  }
  positions.sort((a, b) => a - b);
  let smallest = Number.POSITIVE_INFINITY;
  for (let i = 1; i < positions.length; i++) {
    const gap = positions[i]! - positions[i - 1]!;
    if (gap > SAME_SLICE_MM && gap < smallest) smallest = gap;
  }
  if (!Number.isFinite(smallest)) {
    throw new SegmentationError(
      'cannot tell the spacing between slices: no SpacingBetweenSlices or SliceThickness, and fewer than two distinct ImagePositionPatient values',
    );
  }
  return smallest;
}

function cross(a: readonly number[], b: readonly number[]): number[] {
  const [a0, a1, a2] = a as [number, number, number];
  const [b0, b1, b2] = b as [number, number, number];
  const n = [a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0];
  const length = Math.hypot(n[0]!, n[1]!, n[2]!);
  return length > 0 ? n.map((v) => v / length) : [0, 0, 1];
}

function positive(n: number | undefined): number | undefined {
  return n !== undefined && n > 0 ? n : undefined;
}
