/**
 * The pending mark made from measurements read out of DICOM: the structured form the measurement
 * parser reads, checked by that same parser, so a DICOM source is held to the rules of a person's mark.
 */
import type { Anatomy, MeasurementSet } from '../measurements/model.js';
import { parseMeasurementsJson } from '../measurements/parse.js';

/** One entry as written into the mark. */
export interface DicomMarkEntry {
  readonly name: string;
  /** Number and unit, e.g. "125.5 cm3"; absent when the diameters are given instead. */
  readonly value?: string;
  /** Length, width and depth as the parser reads them, e.g. {"length": "112 mm", ...}: the volume is their ellipsoid. */
  readonly diameters?: Readonly<Record<'length' | 'width' | 'depth', string>>;
  readonly anatomy?: Anatomy;
  readonly method: string;
  readonly source: string;
}

/** The mark's text and the set the parser makes of it. */
export interface DicomMark {
  readonly text: string;
  readonly set: MeasurementSet;
}

/** Method and source texts are at most 64 characters without backslashes or control characters (the parser's rule). */
export function markText(text: string, fallback: string): string {
  const clean = text.replace(/[\\\u0000-\u001f\u007f]/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 64).trim();
  return clean || fallback;
}

/** Builds and parses the mark. Throws InvalidMeasurementsError when the parser refuses it. */
export function dicomMark(entries: readonly DicomMarkEntry[]): DicomMark {
  const text = JSON.stringify({ measurements: entries.map((e) => ({ name: e.name, ...(e.diameters ? { diameters: e.diameters } : { value: e.value }), ...(e.anatomy ? { anatomy: e.anatomy } : {}), method: e.method, source: e.source })) });
  return { text, set: parseMeasurementsJson(text) };
}
