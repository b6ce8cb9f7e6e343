/**
 * Segment volumes of a DICOM Segmentation (PS3.3 A.51): for each segment, the sum over its frames
 * of the frame's voxel fractions times the frame's voxel volume. Pure: a decoded dataset in, numbers out.
 */
import { SEGMENTATION_SOP_CLASS_UID } from '../dicom/sop-classes.js';
import { readCodeSequence, type ReadCode } from '../dicom/sr/content-items.js';
import { frameSum, pixelBytes, pixelFormat } from './frames.js';
import { frameVoxels, SINGLE_SLICE_NOTE, type SpacingSource } from './geometry.js';
import { itemsOf, numberOf, SegmentationError, textOf, type SegmentationType } from './iod.js';

/** What a segment says it is (Segment Description Macro, PS3.3 C.8.20.2.2 / Table 10-25). */
export interface SegmentDescription {
  readonly number: number;
  readonly label: string;
  readonly algorithmName?: string;
  readonly propertyType?: ReadCode;
  /** SegmentedPropertyTypeModifierCodeSequence, inside the type's item (or beside it, as older writers put it). */
  readonly propertyTypeModifier?: ReadCode;
  readonly anatomicRegion?: ReadCode;
  readonly anatomicRegionModifier?: ReadCode;
}

/** One segment and its measured volume. */
export interface SegmentVolume {
  readonly segment: SegmentDescription;
  /** Sum of voxel fractions (whole voxels for BINARY). */
  readonly voxels: number;
  readonly volumeMm3: number;
  /** Frames that belong to the segment. */
  readonly frames: number;
}

/** Every segment's volume, and what identifies the SEG. */
export interface SegmentationVolumes {
  readonly sopInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly studyInstanceUid: string;
  readonly seriesDescription: string;
  readonly type: SegmentationType;
  readonly spacingSources: readonly SpacingSource[];
  /** Why the slice depth is not a measured distance between slices (a single slice), to tell people. */
  readonly spacingNote?: string;
  readonly segments: readonly SegmentVolume[];
}

/** Reads the segments of a SEG dataset and measures each one; throws SegmentationError when it cannot. */
export function segmentationVolumes(dataset: Record<string, unknown>, transferSyntaxUid: string): SegmentationVolumes {
  const sopClass = textOf(dataset['SOPClassUID']);
  if (sopClass !== SEGMENTATION_SOP_CLASS_UID) throw new SegmentationError(`expected a Segmentation (SOP class ${SEGMENTATION_SOP_CLASS_UID}), got SOP class ${sopClass}`);
  const format = pixelFormat(dataset, transferSyntaxUid);
  const bytes = pixelBytes(dataset, format);
  const voxels = frameVoxels(dataset, format.frames);
  const descriptions = itemsOf(dataset['SegmentSequence']).map(describeSegment);
  const sums = new Map<number, { voxels: number; volumeMm3: number; frames: number }>();
  const shared = itemsOf(dataset['SharedFunctionalGroupsSequence'])[0];
  const perFrame = itemsOf(dataset['PerFrameFunctionalGroupsSequence']);
  for (let i = 0; i < format.frames; i++) {
    const number = referencedSegment(perFrame[i]) ?? referencedSegment(shared);
    if (number === undefined) throw new SegmentationError(`frame ${i + 1} has no ReferencedSegmentNumber in a Segment Identification Sequence`);
    if (!descriptions.some((d) => d.number === number)) throw new SegmentationError(`frame ${i + 1} refers to segment ${number}, which the SegmentSequence does not describe`);
    const sum = frameSum(bytes, format, i);
    const total = sums.get(number) ?? { voxels: 0, volumeMm3: 0, frames: 0 };
    sums.set(number, { voxels: total.voxels + sum, volumeMm3: total.volumeMm3 + sum * voxels[i]!.volumeMm3, frames: total.frames + 1 });
  }
  return {
    sopInstanceUid: textOf(dataset['SOPInstanceUID']),
    seriesInstanceUid: textOf(dataset['SeriesInstanceUID']),
    studyInstanceUid: textOf(dataset['StudyInstanceUID']),
    seriesDescription: textOf(dataset['SeriesDescription']),
    type: format.type,
    spacingSources: [...new Set(voxels.map((v) => v.spacingSource))],
    ...(voxels.some((v) => v.spacingSource === 'SliceThickness') ? { spacingNote: SINGLE_SLICE_NOTE } : {}),
    segments: descriptions.map((segment) => ({ segment, ...(sums.get(segment.number) ?? { voxels: 0, volumeMm3: 0, frames: 0 }) })),
  };
}

function referencedSegment(group: Record<string, unknown> | undefined): number | undefined {
  const item = group ? itemsOf(group['SegmentIdentificationSequence'])[0] : undefined;
  return item ? numberOf(item['ReferencedSegmentNumber']) : undefined;
}

function describeSegment(item: Record<string, unknown>, index: number): SegmentDescription {
  const number = numberOf(item['SegmentNumber']);
  if (number === undefined) throw new SegmentationError(`SegmentSequence item ${index + 1} has no SegmentNumber`);
  const typeItem = itemsOf(item['SegmentedPropertyTypeCodeSequence'])[0];
  const regionItem = itemsOf(item['AnatomicRegionSequence'])[0];
  const optional = (key: string, code: ReadCode | undefined) => (code && code.value !== '' ? { [key]: code } : {});
  const algorithmName = textOf(item['SegmentAlgorithmName']);
  return {
    number,
    label: textOf(item['SegmentLabel']),
    ...(algorithmName ? { algorithmName } : {}),
    ...optional('propertyType', readCodeSequence(item['SegmentedPropertyTypeCodeSequence'])),
    ...optional('propertyTypeModifier', readCodeSequence(typeItem?.['SegmentedPropertyTypeModifierCodeSequence'] ?? item['SegmentedPropertyTypeModifierCodeSequence'])),
    ...optional('anatomicRegion', readCodeSequence(item['AnatomicRegionSequence'])),
    ...optional('anatomicRegionModifier', readCodeSequence(regionItem?.['AnatomicRegionModifierSequence'])),
  };
}
