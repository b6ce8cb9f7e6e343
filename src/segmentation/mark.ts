/**
 * The pending mark a segmentation produces: the kidney volumes in the structured measurement form,
 * with the method, the source and the SEG they came from, so the normal pipeline writes them.
 */
import { DEFAULT_NAMES } from '../measurements/anatomy.js';
import type { Anatomy } from '../measurements/model.js';
import type { KidneyMatch, KidneySegment } from './match.js';
import type { SegmentationVolumes } from './volume.js';

/** The `method` of every measurement computed from a SEG. */
export const SEGMENTATION_METHOD = 'segmentation';
/** Source named when the SEG gives neither an algorithm name nor a series description. */
const FALLBACK_SOURCE = 'DICOM Segmentation';
/** The measurement parser's limit on method/source texts. */
const MAX_SOURCE_LENGTH = 64;

/** One entry of the structured form, as the measurement parser reads it. */
export interface MarkEntry {
  readonly name: string;
  readonly value: string;
  readonly unit: 'mL';
  readonly anatomy: Anatomy;
  readonly method: string;
  readonly source: string;
  /** SegmentNumbers counted for this volume. */
  readonly segments: readonly number[];
}

/** The whole pending mark. */
export interface SegmentationMark {
  readonly measurements: readonly MarkEntry[];
  readonly segmentation: { readonly seriesInstanceUid: string; readonly sopInstanceUid: string };
}

/**
 * mm³ to mL rounded to 0.01 mL, as hundredths: far finer than segmentation can be trusted (a
 * one-voxel shift of a kidney's outline changes it by mL), and short enough to read.
 */
export function hundredthsOfMl(volumeMm3: number): number {
  return Math.round(volumeMm3 / 10);
}

/** Hundredths of a mL as a decimal string with two places, without floating-point formatting ("152.30"). */
export function mlText(hundredths: number): string {
  return `${Math.floor(hundredths / 100)}.${String(hundredths % 100).padStart(2, '0')}`;
}

/**
 * The mark for the kidneys found, or undefined when none has a volume of at least 0.01 mL. The
 * total is the sum of the rounded sides, so the three numbers shown always add up.
 */
export function segmentationMark(volumes: SegmentationVolumes, match: KidneyMatch): SegmentationMark | undefined {
  const sides = [match.right, match.left].filter((k): k is KidneySegment => k !== undefined && hundredthsOfMl(k.volume.volumeMm3) > 0);
  if (sides.length === 0) return undefined;
  const source = sourceOf(volumes, sides);
  const entry = (name: string, anatomy: Anatomy, hundredths: number, segments: number[]): MarkEntry => ({
    name,
    value: mlText(hundredths),
    unit: 'mL',
    anatomy,
    // The status and FHIR show the method: a depth taken from SliceThickness is said there.
    method: volumes.spacingNote ? `${SEGMENTATION_METHOD} (${volumes.spacingNote})` : SEGMENTATION_METHOD,
    source,
    segments,
  });
  const measurements = sides.map((k) =>
    entry(DEFAULT_NAMES[k.side], k.side === 'right' ? 'right-kidney' : 'left-kidney', hundredthsOfMl(k.volume.volumeMm3), [k.volume.segment.number]),
  );
  if (sides.length === 2) {
    const total = sides.reduce((sum, k) => sum + hundredthsOfMl(k.volume.volumeMm3), 0);
    measurements.push(entry(DEFAULT_NAMES.total, 'both-kidneys', total, sides.map((k) => k.volume.segment.number)));
  }
  return { measurements, segmentation: { seriesInstanceUid: volumes.seriesInstanceUid, sopInstanceUid: volumes.sopInstanceUid } };
}

/** The algorithm name of the kidney segments, else the SEG's series description; cut to what the parser accepts. */
function sourceOf(volumes: SegmentationVolumes, sides: readonly KidneySegment[]): string {
  const named = sides.map((k) => k.volume.segment.algorithmName).find((n) => n !== undefined && n !== '');
  // Backslashes and control characters are refused by the parser (they break DICOM text values).
  const text = (named ?? volumes.seriesDescription ?? '').replace(/[\\\u0000-\u001f\u007f]/g, ' ').trim();
  return (text || FALLBACK_SOURCE).slice(0, MAX_SOURCE_LENGTH).trim();
}
