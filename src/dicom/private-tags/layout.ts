/**
 * Our private block (PS3.5 section 7.8.1): the creator string, the element map inside the block,
 * and the choice of a creator slot that never touches another vendor's creator or elements.
 * The map is documented for readers in README.md next to this file.
 */
import { DIAMETER_KEYS, describeDiameters, diameterMm } from '../../measurements/diameters.js';
import type { Measurement, MeasurementSet } from '../../measurements/model.js';
import { elementOf, groupOf, tagOf, type Encoding } from './encoding.js';
import { doubleValues, elementBytes, textValue, uidValue } from './encode.js';
import { PrivateTagsError } from './errors.js';
import type { Piece } from './part10-file.js';
import { textOf, type ScannedElement } from './scan.js';

/** Our Private Creator value. Readers find the block by this string, never by slot. */
export const KIDNEY_CREATOR = 'KidneyVolInfo';
/** The private group our block lives in. */
export const PRIVATE_GROUP = 0x0011;
/** Creator slots a private group offers: (gggg,0010) to (gggg,00FF). */
export const FIRST_SLOT = 0x10;
/** The last creator slot. */
export const LAST_SLOT = 0xff;

/** Element offsets inside our block: the low byte of (0011,ssxx), where ss is the creator slot. */
export const BlockOffset = {
  /** LO "Right Kidney: 125 ml", one element per measurement, in the set's order. */
  firstText: 0x10,
  lastText: 0x3f,
  /** FD volume in mL, one element per measurement, same order as the text lines. */
  firstVolume: 0x40,
  lastVolume: 0x6f,
  /** LO sha256 (hex) of the measurement set, the digest the stable UIDs are made from. */
  digest: 0x70,
  /** UI SeriesInstanceUID of the source series this copy was made from. */
  sourceSeries: 0x71,
  /** LO "ellipsoid estimate: 11.2 x 5.1 x 4.8 cm" for a volume estimated from diameters; same index as its line. */
  firstEstimate: 0x80,
  lastEstimate: 0xaf,
  /** FD, VM 3: that volume's length, width and depth in mm; same index. */
  firstDiameters: 0xb0,
  lastDiameters: 0xdf,
} as const;

/** The text of an estimate element begins with this, so a reader of the line knows what the volume is. */
export const ESTIMATE_PREFIX = 'ellipsoid estimate pi/6 x L x W x D: ';

/** How many measurements the block can hold (one text and one FD element each). */
export const MAX_MEASUREMENTS = BlockOffset.lastText - BlockOffset.firstText + 1;
/** LO holds at most 64 characters (PS3.5 table 6.2-1). */
const LO_MAX = 64;

/** The tag of an element of the block in a given slot. */
export function blockTag(slot: number, offset: number): number {
  return tagOf(PRIVATE_GROUP, (slot << 8) | offset);
}

/** The creator strings of a group's slots, as written (latin1, padding removed). */
export function privateCreators(buf: Buffer, elements: readonly ScannedElement[], group = PRIVATE_GROUP): Map<number, string> {
  const creators = new Map<number, string>();
  for (const e of elements) {
    const element = elementOf(e.tag);
    if (groupOf(e.tag) === group && element >= FIRST_SLOT && element <= LAST_SLOT) creators.set(element, (textOf(buf, e) ?? '').trim());
  }
  return creators;
}

/** The slot holding our creator, if any. */
export function kidneySlot(creators: ReadonlyMap<number, string>): number | undefined {
  for (const [slot, creator] of creators) if (creator === KIDNEY_CREATOR) return slot;
  return undefined;
}

/**
 * The first slot with neither a creator nor any element in its block: an element without its
 * creator still belongs to somebody (a broken writer), so its block is not free either.
 */
export function chooseSlot(elements: readonly ScannedElement[], creators: ReadonlyMap<number, string>): number {
  const used = new Set(creators.keys());
  for (const e of elements) {
    if (groupOf(e.tag) === PRIVATE_GROUP && elementOf(e.tag) >= 0x1000) used.add(elementOf(e.tag) >> 8);
  }
  for (let slot = FIRST_SLOT; slot <= LAST_SLOT; slot++) if (!used.has(slot)) return slot;
  throw new PrivateTagsError(`no free private creator slot in group 0011: all of (0011,0010) to (0011,00FF) are taken`);
}

/** The text line of one measurement, e.g. "Right Kidney: 125 ml": ASCII only, so it is valid in every character set. */
export function measurementLine(measurement: Measurement): string {
  const unit = ` ml`;
  const value = `: ${measurement.valueMl}`;
  // Backslash separates values in LO; other non-printable or non-ASCII characters would depend on the file's character set.
  const name = measurement.name.replace(/[^\x20-\x5b\x5d-\x7e]/g, '?').trim();
  return `${name.slice(0, LO_MAX - value.length - unit.length)}${value}${unit}`;
}

/** Everything the block says, in the form a reader gets back. */
export interface KidneyBlockContent {
  readonly lines: readonly string[];
  readonly volumesMl: readonly number[];
  readonly digest: string;
  readonly sourceSeriesInstanceUid: string;
  /** The volumes estimated as ellipsoids, by their index among the lines; absent when none is. */
  readonly estimates?: readonly BlockEstimate[];
}

/** One ellipsoid estimate in the block. */
export interface BlockEstimate {
  /** Index of the measurement's line (0 for (0011,ss10)). */
  readonly index: number;
  readonly text: string;
  /** Length, width and depth in mm. */
  readonly diametersMm: readonly number[];
}

/** The estimate elements of a measurement set: one text and one FD triple per volume with diameters. */
function estimatesOf(measurements: MeasurementSet): BlockEstimate[] {
  return measurements.measurements.flatMap((m, index) => {
    const d = m.diameters;
    // ASCII only, like the lines; a text longer than an LO is cut: the FD triple holds the numbers.
    return d ? [{ index, text: `${ESTIMATE_PREFIX}${describeDiameters(d)}`.slice(0, LO_MAX), diametersMm: DIAMETER_KEYS.map((k) => diameterMm(d[k])) }] : [];
  });
}

/** What the block will say for a measurement set and a source series. */
export function blockContent(measurements: MeasurementSet, sourceSeriesInstanceUid: string): KidneyBlockContent {
  if (measurements.measurements.length > MAX_MEASUREMENTS) {
    throw new PrivateTagsError(`the private block holds at most ${MAX_MEASUREMENTS} measurements, got ${measurements.measurements.length}`);
  }
  return {
    lines: measurements.measurements.map(measurementLine),
    volumesMl: measurements.measurements.map((m) => m.volumeMl),
    digest: measurements.digest,
    sourceSeriesInstanceUid,
    ...(estimatesOf(measurements).length > 0 ? { estimates: estimatesOf(measurements) } : {}),
  };
}

/** The creator and every element of our block in `slot`, encoded, in tag order. */
export function blockPieces(slot: number, content: KidneyBlockContent, encoding: Encoding): Piece[] {
  const piece = (tag: number, vr: string, value: Buffer): Piece => ({ tag, bytes: elementBytes(tag, vr, value, encoding) });
  return [
    piece(tagOf(PRIVATE_GROUP, slot), 'LO', textValue(KIDNEY_CREATOR)),
    ...content.lines.map((line, i) => piece(blockTag(slot, BlockOffset.firstText + i), 'LO', textValue(line))),
    ...content.volumesMl.map((v, i) => piece(blockTag(slot, BlockOffset.firstVolume + i), 'FD', doubleValues([v], encoding))),
    piece(blockTag(slot, BlockOffset.digest), 'LO', textValue(content.digest)),
    piece(blockTag(slot, BlockOffset.sourceSeries), 'UI', uidValue(content.sourceSeriesInstanceUid)),
    ...(content.estimates ?? []).map((e) => piece(blockTag(slot, BlockOffset.firstEstimate + e.index), 'LO', textValue(e.text))),
    ...(content.estimates ?? []).map((e) => piece(blockTag(slot, BlockOffset.firstDiameters + e.index), 'FD', doubleValues(e.diametersMm, encoding))),
  ];
}
