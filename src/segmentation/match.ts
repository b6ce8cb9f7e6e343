/**
 * Which segments are the right and the left kidney: by the coded Segmented Property Type first
 * (SNOMED CT, laterality pre-coordinated or as a modifier of Kidney), by the segment label second.
 */
import { SCT } from '../dicom/codes.js';
import type { ReadCode } from '../dicom/sr/content-items.js';
import { normaliseName } from '../measurements/anatomy.js';
import type { SegmentVolume } from './volume.js';

/** A kidney side. */
export type Side = 'right' | 'left';
/** How a segment was recognised. */
export type MatchedBy = 'code' | 'label';

/** Segment labels that mean each kidney, compared after normaliseName (case, "_", "-" and spaces folded). */
export interface SegmentLabels {
  readonly right: readonly string[];
  readonly left: readonly string[];
}

/** Labels used unless KV_SEGMENT_LABELS says otherwise. */
export const DEFAULT_SEGMENT_LABELS: SegmentLabels = {
  right: ['kidney_right', 'right kidney', 'kidney_r', 'r kidney', 'right_kidney'],
  left: ['kidney_left', 'left kidney', 'kidney_l', 'l kidney', 'left_kidney'],
};

/** A segment recognised as a kidney. */
export interface KidneySegment {
  readonly side: Side;
  readonly by: MatchedBy;
  readonly volume: SegmentVolume;
}

/** The kidneys found in a SEG, and why other segments were passed over. */
export interface KidneyMatch {
  readonly right?: KidneySegment;
  readonly left?: KidneySegment;
  readonly notes: readonly string[];
}

// SNOMED CT codes appear with "SCT", and in older SEGs with the legacy designator "SRT" for the same ids.
const SNOMED_SCHEMES = new Set(['SCT', 'SRT']);

function is(code: ReadCode | undefined, value: string): boolean {
  return code !== undefined && SNOMED_SCHEMES.has(code.scheme) && code.value === value;
}

function lateralityOf(code: ReadCode | undefined): Side | undefined {
  if (is(code, SCT.Right.value)) return 'right';
  if (is(code, SCT.Left.value)) return 'left';
  return undefined;
}

/** The side a segment's codes say, or undefined when they do not code a sided kidney. */
export function sideByCode(volume: SegmentVolume): Side | undefined {
  const s = volume.segment;
  if (is(s.propertyType, SCT.RightKidney.value)) return 'right';
  if (is(s.propertyType, SCT.LeftKidney.value)) return 'left';
  if (is(s.propertyType, SCT.Kidney.value)) return lateralityOf(s.propertyTypeModifier) ?? lateralityOf(s.anatomicRegionModifier);
  // Some tools code the type as a generic organ and put the kidney in the anatomic region.
  if (is(s.anatomicRegion, SCT.RightKidney.value)) return 'right';
  if (is(s.anatomicRegion, SCT.LeftKidney.value)) return 'left';
  if (is(s.anatomicRegion, SCT.Kidney.value)) return lateralityOf(s.anatomicRegionModifier);
  return undefined;
}

/** The side a segment's label names, or undefined. */
export function sideByLabel(volume: SegmentVolume, labels: SegmentLabels): Side | undefined {
  const label = normaliseName(volume.segment.label);
  if (label === '') return undefined;
  if (labels.right.some((l) => normaliseName(l) === label)) return 'right';
  if (labels.left.some((l) => normaliseName(l) === label)) return 'left';
  return undefined;
}

/**
 * Finds each kidney. A coded match beats a label match; two segments for one side by the same
 * means are ambiguous and that side is left out (a note says why), as are empty segments.
 */
export function matchKidneys(volumes: readonly SegmentVolume[], labels: SegmentLabels): KidneyMatch {
  const notes: string[] = [];
  const found: Partial<Record<Side, KidneySegment>> = {};
  for (const side of ['right', 'left'] as const) {
    const candidates = (by: MatchedBy) => volumes.filter((v) => (by === 'code' ? sideByCode(v) : sideByCode(v) === undefined ? sideByLabel(v, labels) : undefined) === side);
    for (const by of ['code', 'label'] as const) {
      const hits = candidates(by);
      if (hits.length === 0) continue;
      const nonEmpty = hits.filter((h) => h.voxels > 0);
      if (nonEmpty.length === 0) notes.push(`${side} kidney segment ${hits.map((h) => h.segment.number).join(', ')} is empty`);
      else if (nonEmpty.length > 1) notes.push(`${side} kidney is ambiguous: segments ${nonEmpty.map((h) => h.segment.number).join(', ')} all match by ${by}`);
      else found[side] = { side, by, volume: nonEmpty[0]! };
      break;
    }
  }
  return { ...found, notes };
}

/**
 * Parses KV_SEGMENT_LABELS: "right:<label>,<label>;left:<label>,..." Each side given replaces that
 * side's default labels; a side left out keeps them.
 */
export function parseSegmentLabels(text: string): SegmentLabels {
  const result: { right: readonly string[]; left: readonly string[] } = { ...DEFAULT_SEGMENT_LABELS };
  for (const part of text.split(';').map((p) => p.trim()).filter((p) => p !== '')) {
    const match = /^(right|left)\s*:(.*)$/i.exec(part);
    const labels = match?.[2]?.split(',').map((l) => l.trim()).filter((l) => l !== '') ?? [];
    if (!match || labels.length === 0) {
      throw new Error(`must be "right:<label>,...;left:<label>,..." with at least one label per side given, got "${part}"`);
    }
    result[match[1]!.toLowerCase() as Side] = labels;
  }
  return result;
}
