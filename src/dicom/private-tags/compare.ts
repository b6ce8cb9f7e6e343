/**
 * Compares a derived copy with its source element by element, on the raw bytes: the check that
 * the copy changed only what it means to change (tests and the step's read-back both use it).
 */
import { Tag, formatTag, groupOf, tagOf } from './encoding.js';
import { PRIVATE_GROUP, blockTag, kidneySlot, privateCreators } from './layout.js';
import { parsePart10, type Part10File } from './part10-file.js';

/** The attributes a copy is meant to differ in, besides our own private block. */
export const CHANGED_BY_COPY: readonly number[] = [
  Tag.SOPInstanceUID,
  Tag.SeriesInstanceUID,
  Tag.SeriesNumber,
  Tag.SeriesDescription,
  Tag.DerivationDescription,
  Tag.SourceImageSequence,
];

/** How a copy differs from its source, beyond what it is meant to. */
export interface CopyDifferences {
  /** Elements present in both whose bytes differ. */
  readonly changed: readonly string[];
  /** Elements of the source missing from the copy. */
  readonly missing: readonly string[];
  /** Elements of the copy the source does not have. */
  readonly added: readonly string[];
  /** Meta header elements that differ, besides MediaStorageSOPInstanceUID and the group length. */
  readonly metaChanged: readonly string[];
  readonly sameTransferSyntax: boolean;
}

/** Differences between source and copy, ignoring the intended changes and the copy's own private block. */
export function compareWithSource(source: Buffer, copy: Buffer): CopyDifferences {
  const a = parsePart10(source);
  const b = parsePart10(copy);
  const ours = ownTags(b);
  const ignore = (tag: number): boolean => CHANGED_BY_COPY.includes(tag) || ours.has(tag);
  const raw = (file: Part10File): Map<number, Buffer> =>
    new Map(file.elements.filter((e) => !ignore(e.tag)).map((e) => [e.tag, file.dataset.subarray(e.start, e.end)]));
  const before = raw(a);
  const after = raw(b);
  // Group lengths (gggg,0000) must change when their group grows, so they are no difference.
  const isGroupLength = (tag: number): boolean => (tag & 0xffff) === 0;
  return {
    changed: [...before].filter(([tag, bytes]) => !isGroupLength(tag) && after.has(tag) && !bytes.equals(after.get(tag) as Buffer)).map(([tag]) => formatTag(tag)),
    missing: [...before.keys()].filter((tag) => !after.has(tag)).map(formatTag),
    added: [...after.keys()].filter((tag) => !before.has(tag)).map(formatTag),
    metaChanged: metaDifferences(a, b),
    sameTransferSyntax: a.transferSyntaxUid === b.transferSyntaxUid,
  };
}

/** True when the copy differs from its source only as intended. */
export function onlyIntendedChanges(differences: CopyDifferences): boolean {
  const { changed, missing, added, metaChanged, sameTransferSyntax } = differences;
  return sameTransferSyntax && changed.length + missing.length + added.length + metaChanged.length === 0;
}

function metaDifferences(a: Part10File, b: Part10File): string[] {
  const skip = new Set<number>([Tag.FileMetaInformationGroupLength, Tag.MediaStorageSOPInstanceUID]);
  const raw = (file: Part10File): Map<number, Buffer> =>
    new Map(file.metaElements.filter((e) => !skip.has(e.tag)).map((e) => [e.tag, file.meta.subarray(e.start, e.end)]));
  const before = raw(a);
  const after = raw(b);
  const tags = new Set([...before.keys(), ...after.keys()]);
  return [...tags].filter((tag) => !(before.get(tag)?.equals(after.get(tag) ?? Buffer.alloc(0)) ?? false)).map(formatTag);
}

/** The creator and elements of our block in a copy. */
function ownTags(file: Part10File): Set<number> {
  const slot = kidneySlot(privateCreators(file.dataset, file.elements));
  if (slot === undefined) return new Set();
  const first = blockTag(slot, 0x00);
  return new Set(
    file.elements
      .map((e) => e.tag)
      .filter((tag) => tag === tagOf(PRIVATE_GROUP, slot) || (groupOf(tag) === PRIVATE_GROUP && tag >= first && tag <= first + 0xff)),
  );
}
