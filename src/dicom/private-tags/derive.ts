/**
 * Makes the derived copy of one image: new Series and SOP Instance UIDs, a recognisable
 * SeriesDescription and SeriesNumber, a reference to the source image, and our private block;
 * every other byte (including the pixel data, compressed or not) copied from the source.
 */
import { EXPLICIT_LE, Tag, UNDEFINED_LENGTH, type Encoding } from './encoding.js';
import { elementBytes, itemBytes, sequenceBytes, sequenceHeader, textValue, uidValue } from './encode.js';
import { PrivateTagsError } from './errors.js';
import { KIDNEY_CREATOR, blockPieces, chooseSlot, kidneySlot, privateCreators, type KidneyBlockContent } from './layout.js';
import { assemblePart10, parsePart10, splice, type Allocate } from './part10-file.js';
import { textOf, type ScannedElement } from './scan.js';
import { DERIVED_COPY_SUFFIX } from '../../study/facts.js';

/** Added to the source SeriesNumber, so the copy sorts after its source and is easy to tell apart. */
export const SERIES_NUMBER_OFFSET = 1000;
/** Appended to the source SeriesDescription; also how people (and our step) recognise a copy. */
export const DESCRIPTION_SUFFIX = DERIVED_COPY_SUFFIX;
const LO_MAX = 64;
const ST_MAX = 1024;
const IS_MAX = 2 ** 31 - 1;

/** What a copy gets that its source does not have. */
export interface DerivedCopyPlan {
  readonly seriesInstanceUid: string;
  readonly sopInstanceUid: string;
  /** The block's content; its sourceSeriesInstanceUid is also named in DerivationDescription. */
  readonly content: KidneyBlockContent;
}

/** A derived copy and where its block went. */
export interface DerivedCopy {
  readonly bytes: Buffer;
  /** The creator slot used, e.g. 0x11 when (0011,0010) belonged to another vendor. */
  readonly slot: number;
  readonly transferSyntaxUid: string;
  readonly sourceSopInstanceUid: string;
}

/**
 * Builds the derived copy of one source image (Part-10 bytes in, Part-10 bytes out, same transfer
 * syntax), written into memory from `allocate` (a new buffer by default; see assemblePart10).
 */
export function derivePrivateCopy(source: Buffer, plan: DerivedCopyPlan, allocate?: Allocate): DerivedCopy {
  const file = parsePart10(source);
  const { dataset, elements, encoding } = file;
  const byTag = new Map(elements.map((e) => [e.tag, e]));
  const creators = privateCreators(dataset, elements);
  const sourceSop = textOf(dataset, byTag.get(Tag.SOPInstanceUID));
  const sourceClass = textOf(dataset, byTag.get(Tag.SOPClassUID));
  if (kidneySlot(creators) !== undefined) {
    throw new PrivateTagsError(`image ${sourceSop} already carries a ${KIDNEY_CREATOR} block: it is a derived copy, not a source`, { sopInstanceUid: sourceSop });
  }
  if (!sourceSop || !sourceClass) throw new PrivateTagsError('a source image needs SOPClassUID and SOPInstanceUID', { sopInstanceUid: sourceSop });
  const slot = chooseSlot(elements, creators);
  const el = (tag: number, vr: string, value: Buffer): Buffer => elementBytes(tag, vr, value, encoding);
  const seriesNumber = derivedSeriesNumber(textOf(dataset, byTag.get(Tag.SeriesNumber)));
  const edits = new Map<number, Buffer>([
    [Tag.SOPInstanceUID, el(Tag.SOPInstanceUID, 'UI', uidValue(plan.sopInstanceUid))],
    [Tag.SeriesInstanceUID, el(Tag.SeriesInstanceUID, 'UI', uidValue(plan.seriesInstanceUid))],
    [Tag.SeriesNumber, el(Tag.SeriesNumber, 'IS', textValue(String(seriesNumber)))],
    [Tag.SeriesDescription, el(Tag.SeriesDescription, 'LO', textValue(derivedSeriesDescription(textOf(dataset, byTag.get(Tag.SeriesDescription)), seriesNumber)))],
  ]);
  const derivation = derivationDescription(textOf(dataset, byTag.get(Tag.DerivationDescription)), plan.content.sourceSeriesInstanceUid);
  if (derivation !== undefined) edits.set(Tag.DerivationDescription, el(Tag.DerivationDescription, 'ST', textValue(derivation)));
  const sources = sourceImageSequence(dataset, byTag.get(Tag.SourceImageSequence), sourceClass, sourceSop, encoding);
  if (sources) edits.set(Tag.SourceImageSequence, sources);
  for (const piece of blockPieces(slot, plan.content, encoding)) edits.set(piece.tag, piece.bytes);
  const metaEdits = new Map([[Tag.MediaStorageSOPInstanceUID, elementBytes(Tag.MediaStorageSOPInstanceUID, 'UI', uidValue(plan.sopInstanceUid), EXPLICIT_LE)]]);
  const bytes = assemblePart10(file, splice(file.meta, file.metaElements, metaEdits), splice(dataset, elements, edits), allocate);
  return { bytes, slot, transferSyntaxUid: file.transferSyntaxUid, sourceSopInstanceUid: sourceSop };
}

/** Source SeriesNumber + 1000, or 1000 when the source has none (IS is a 32-bit signed integer). */
export function derivedSeriesNumber(source: string | undefined): number {
  const number = Number((source ?? '').trim());
  return source !== undefined && source.trim() !== '' && Number.isSafeInteger(number) && number + SERIES_NUMBER_OFFSET <= IS_MAX
    ? number + SERIES_NUMBER_OFFSET
    : SERIES_NUMBER_OFFSET;
}

/**
 * "<source description> + kidney volumes". The source part stays in its own bytes and
 * character set (held as latin1); only a pure-ASCII one is shortened to fit LO, since cutting
 * multi-byte text could split a character.
 */
export function derivedSeriesDescription(source: string | undefined, seriesNumber: number): string {
  let base = source && source.trim() !== '' ? source.trim() : `Series ${seriesNumber}`;
  if (/^[\x20-\x7e]*$/.test(base) && base.length + DESCRIPTION_SUFFIX.length > LO_MAX) base = base.slice(0, LO_MAX - DESCRIPTION_SUFFIX.length).trimEnd();
  return `${base}${DESCRIPTION_SUFFIX}`;
}

/** Our sentence appended to any existing DerivationDescription; undefined (leave it) when both would not fit in ST. */
function derivationDescription(existing: string | undefined, sourceSeriesUid: string): string | undefined {
  const ours = `Copy of series ${sourceSeriesUid} with kidney volumes in private block ${KIDNEY_CREATOR} (group 0011); pixel data and other attributes unchanged`;
  const text = existing ? `${existing}; ${ours}` : ours;
  return text.length <= ST_MAX ? text : existing === undefined ? ours : undefined;
}

/**
 * SourceImageSequence (PS3.3 C.7.6.1) naming the source image, appended after any items the
 * source already has. A sequence written as UN is left alone: its items are implicit VR and
 * rewriting them is not worth the risk; the private block still names the source series.
 */
function sourceImageSequence(dataset: Buffer, existing: ScannedElement | undefined, sopClassUid: string, sopInstanceUid: string, encoding: Encoding): Buffer | undefined {
  const item = itemBytes(
    [
      elementBytes(Tag.ReferencedSOPClassUID, 'UI', uidValue(sopClassUid), encoding),
      elementBytes(Tag.ReferencedSOPInstanceUID, 'UI', uidValue(sopInstanceUid), encoding),
      // Same pixels, same geometry: locations in the copy are those of the source.
      elementBytes(Tag.SpatialLocationsPreserved, 'CS', textValue('YES'), encoding),
    ],
    encoding,
  );
  if (!existing) return sequenceBytes(Tag.SourceImageSequence, [item], encoding);
  if (existing.vr !== undefined && existing.vr !== 'SQ') return undefined;
  const items = dataset.subarray(existing.valueStart, existing.valueStart + existing.valueLength);
  if (!existing.undefinedLength) return Buffer.concat([sequenceHeader(Tag.SourceImageSequence, items.length + item.length, encoding), items, item]);
  return Buffer.concat([sequenceHeader(Tag.SourceImageSequence, UNDEFINED_LENGTH, encoding), items, item, dataset.subarray(existing.end - 8, existing.end)]);
}
