/**
 * The Segmentation IOD (PS3.3 section A.51) as this reader sees it: the enumerated values it
 * understands and the one error type of the segmentation package (its SOP class is in
 * src/dicom/sop-classes.ts, which the SR writer references too).
 */
import { KidneyVolumesError } from '../errors.js';

/** Segmentation Type (PS3.3 C.8.20.2.3). */
export const SEGMENTATION_TYPES = ['BINARY', 'FRACTIONAL'] as const;
/** One Segmentation Type. */
export type SegmentationType = (typeof SEGMENTATION_TYPES)[number];

/** A SEG this reader cannot measure; the message names the attribute and the value found. */
export class SegmentationError extends KidneyVolumesError {
  /** Makes the error; `details` carries the SOP Instance UID when known. */
  constructor(message: string, details: Readonly<Record<string, unknown>> = {}) {
    super('invalid-measurements', message, details);
    this.name = 'SegmentationError';
  }
}

/** A single value of a naturalized element (dcmjs gives multi-valued elements as arrays). */
export function single(value: unknown): unknown {
  return Array.isArray(value) ? value[0] : value;
}

/** A number from a naturalized US/DS/IS element, or undefined when absent or not numeric. */
export function numberOf(value: unknown): number | undefined {
  const v = single(value);
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** All values of a multi-valued numeric element (DS VM 2-n), or undefined when any is missing or not numeric. */
export function numbersOf(value: unknown, count: number): number[] | undefined {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split('\\') : [];
  const numbers = list.map((v) => numberOf(v));
  if (numbers.length < count || numbers.some((n) => n === undefined)) return undefined;
  return (numbers as number[]).slice(0, count);
}

/** A string value, trimmed; empty when absent. */
export function textOf(value: unknown): string {
  const v = single(value);
  return typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '';
}

/** The items of a naturalized sequence (dcmjs gives a one-item sequence as an object in some versions). */
export function itemsOf(value: unknown): Record<string, unknown>[] {
  if (Array.isArray(value)) return value.filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null);
  return typeof value === 'object' && value !== null && !(value instanceof ArrayBuffer) ? [value as Record<string, unknown>] : [];
}
