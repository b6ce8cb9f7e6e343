/**
 * Byte-level basics of the DICOM data encodings (PS3.5 sections 7.1 and 10): which transfer
 * syntax uses which byte order and VR form, which VRs have 4-byte lengths, and the tags we touch.
 */

/** How the elements of a dataset are laid out. */
export interface Encoding {
  readonly littleEndian: boolean;
  readonly explicitVr: boolean;
}

/** Explicit VR little endian: the meta header, and every compressed transfer syntax. */
export const EXPLICIT_LE: Encoding = { littleEndian: true, explicitVr: true };
/** Implicit VR little endian: the default transfer syntax, and the inside of undefined-length UN (CP-246). */
export const IMPLICIT_LE: Encoding = { littleEndian: true, explicitVr: false };
/** Explicit VR big endian (retired, but still found in archives). */
export const EXPLICIT_BE: Encoding = { littleEndian: false, explicitVr: true };

/** Transfer syntaxes whose layout differs from explicit VR little endian. */
export const TransferSyntaxUid = {
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
  DeflatedExplicitVRLittleEndian: '1.2.840.10008.1.2.1.99',
} as const;

/** The dataset encoding of a transfer syntax; every other syntax (all the compressed ones) is explicit VR little endian. */
export function encodingOf(transferSyntaxUid: string): Encoding {
  if (transferSyntaxUid === TransferSyntaxUid.ImplicitVRLittleEndian) return IMPLICIT_LE;
  if (transferSyntaxUid === TransferSyntaxUid.ExplicitVRBigEndian) return EXPLICIT_BE;
  return EXPLICIT_LE;
}

/** True when the dataset after the meta header is a raw deflate stream (PS3.5 section A.5). */
export function isDeflated(transferSyntaxUid: string): boolean {
  return transferSyntaxUid === TransferSyntaxUid.DeflatedExplicitVRLittleEndian;
}

/** VRs whose explicit header has two reserved bytes and a 4-byte length (PS3.5 table 7.1-1). */
export const LONG_LENGTH_VRS: ReadonlySet<string> = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/** The length field value that means "undefined length, ends with a delimiter". */
export const UNDEFINED_LENGTH = 0xffffffff;

/** A tag as one unsigned 32-bit number, group in the high half. */
export function tagOf(group: number, element: number): number {
  return ((group << 16) | element) >>> 0;
}

/** The group of a tag. */
export function groupOf(tag: number): number {
  return tag >>> 16;
}

/** The element number of a tag. */
export function elementOf(tag: number): number {
  return tag & 0xffff;
}

/** "(gggg,eeee)" for messages. */
export function formatTag(tag: number): string {
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
  return `(${hex(groupOf(tag))},${hex(elementOf(tag))})`;
}

/** The standard tags this module reads or writes. */
export const Tag = {
  FileMetaInformationGroupLength: tagOf(0x0002, 0x0000),
  MediaStorageSOPInstanceUID: tagOf(0x0002, 0x0003),
  TransferSyntaxUID: tagOf(0x0002, 0x0010),
  SOPClassUID: tagOf(0x0008, 0x0016),
  SOPInstanceUID: tagOf(0x0008, 0x0018),
  SeriesDescription: tagOf(0x0008, 0x103e),
  ReferencedSOPClassUID: tagOf(0x0008, 0x1150),
  ReferencedSOPInstanceUID: tagOf(0x0008, 0x1155),
  DerivationDescription: tagOf(0x0008, 0x2111),
  SourceImageSequence: tagOf(0x0008, 0x2112),
  SeriesInstanceUID: tagOf(0x0020, 0x000e),
  SeriesNumber: tagOf(0x0020, 0x0011),
  SpatialLocationsPreserved: tagOf(0x0028, 0x135a),
  PixelData: tagOf(0x7fe0, 0x0010),
  Item: tagOf(0xfffe, 0xe000),
  ItemDelimitationItem: tagOf(0xfffe, 0xe00d),
  SequenceDelimitationItem: tagOf(0xfffe, 0xe0dd),
} as const;
