/**
 * A Part-10 file (PS3.10 section 7.1) split into preamble, meta header and dataset, and put back
 * together after edits: untouched elements are copied as byte ranges, never re-encoded.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { EXPLICIT_LE, Tag, elementOf, encodingOf, groupOf, isDeflated, type Encoding } from './encoding.js';
import { elementBytes, ulValue } from './encode.js';
import { Part10FormatError } from './errors.js';
import { readElement, scanDataset, textOf, type ScannedElement } from './scan.js';

const PREAMBLE_AND_PREFIX = 132;

/** A parsed Part-10 file; dataset offsets are relative to `dataset` (the inflated bytes when deflated). */
export interface Part10File {
  /** The 128-byte preamble and "DICM". */
  readonly prefix: Buffer;
  readonly meta: Buffer;
  readonly metaElements: readonly ScannedElement[];
  readonly transferSyntaxUid: string;
  readonly encoding: Encoding;
  readonly deflated: boolean;
  readonly dataset: Buffer;
  readonly elements: readonly ScannedElement[];
}

/** Parses the file structure (not the values). Throws Part10FormatError when the bytes are not Part-10. */
export function parsePart10(bytes: Buffer): Part10File {
  if (bytes.length < PREAMBLE_AND_PREFIX || bytes.toString('latin1', 128, 132) !== 'DICM') {
    throw new Part10FormatError('not a DICOM Part-10 file: no "DICM" after the 128-byte preamble', 128);
  }
  const metaEnd = endOfMeta(bytes);
  const meta = bytes.subarray(PREAMBLE_AND_PREFIX, metaEnd);
  const metaElements = scanDataset(meta, 0, meta.length, EXPLICIT_LE);
  const transferSyntaxUid = textOf(meta, metaElements.find((e) => e.tag === Tag.TransferSyntaxUID));
  if (!transferSyntaxUid) throw new Part10FormatError('the meta header has no TransferSyntaxUID (0002,0010)', PREAMBLE_AND_PREFIX);
  const deflated = isDeflated(transferSyntaxUid);
  const encoding = encodingOf(transferSyntaxUid);
  const dataset = deflated ? inflateRawSync(bytes.subarray(metaEnd)) : bytes.subarray(metaEnd);
  const elements = scanDataset(dataset, 0, dataset.length, encoding);
  return { prefix: bytes.subarray(0, PREAMBLE_AND_PREFIX), meta, metaElements, transferSyntaxUid, encoding, deflated, dataset, elements };
}

/** Where the meta header ends: from its group length when present, else at the first non-0002 element. */
function endOfMeta(bytes: Buffer): number {
  const first = readElement(bytes, PREAMBLE_AND_PREFIX, bytes.length, EXPLICIT_LE);
  if (first.tag === Tag.FileMetaInformationGroupLength && first.valueLength === 4) {
    return first.end + bytes.readUInt32LE(first.valueStart);
  }
  let pos = PREAMBLE_AND_PREFIX;
  while (pos + 8 <= bytes.length && bytes.readUInt16LE(pos) === 0x0002) pos = readElement(bytes, pos, bytes.length, EXPLICIT_LE).end;
  return pos;
}

/** One piece of an output dataset: an element's tag and its complete bytes. */
export interface Piece {
  readonly tag: number;
  readonly bytes: Buffer;
}

/**
 * The dataset as pieces with `edits` applied: an edit replaces the element with its tag, or is
 * inserted where its tag sorts (PS3.5 section 7.1: elements ascend by tag). Every other element is
 * a view on the source bytes.
 */
export function splice(buf: Buffer, elements: readonly ScannedElement[], edits: ReadonlyMap<number, Buffer>): Piece[] {
  const present = new Set(elements.map((e) => e.tag));
  const inserts = [...edits.keys()].filter((tag) => !present.has(tag)).sort((a, b) => a - b);
  const pieces: Piece[] = [];
  let next = 0;
  for (const element of elements) {
    while (next < inserts.length && (inserts[next] as number) < element.tag) {
      const tag = inserts[next++] as number;
      pieces.push({ tag, bytes: edits.get(tag) as Buffer });
    }
    pieces.push({ tag: element.tag, bytes: edits.get(element.tag) ?? buf.subarray(element.start, element.end) });
  }
  for (const tag of inserts.slice(next)) pieces.push({ tag, bytes: edits.get(tag) as Buffer });
  return pieces;
}

/** Recomputes every group length element (gggg,0000) present, since edits change the sizes of their groups. */
export function fixGroupLengths(pieces: readonly Piece[], encoding: Encoding): Piece[] {
  return pieces.map((piece) => {
    if (elementOf(piece.tag) !== 0x0000) return piece;
    const group = groupOf(piece.tag);
    const length = pieces.reduce((sum, p) => (p !== piece && groupOf(p.tag) === group ? sum + p.bytes.length : sum), 0);
    return { tag: piece.tag, bytes: elementBytes(piece.tag, 'UL', ulValue(length, encoding), encoding) };
  });
}

/** Memory for an assembled file: a buffer of exactly `size` bytes, whose content is overwritten. */
export type Allocate = (size: number) => Buffer;

/**
 * Puts a file back together from edited meta and dataset pieces, deflating again when the source
 * was deflated. `allocate` gives the memory it is written into: a new buffer by default, or a
 * reused one (issue 17: a fresh half-megabyte buffer per image costs more CPU in page faults than
 * copying the bytes into it).
 */
export function assemblePart10(file: Part10File, metaPieces: readonly Piece[], datasetPieces: readonly Piece[], allocate: Allocate = Buffer.allocUnsafe): Buffer {
  const meta = fixGroupLengths(metaPieces, EXPLICIT_LE).map((p) => p.bytes);
  const dataset = fixGroupLengths(datasetPieces, file.encoding).map((p) => p.bytes);
  const parts = [file.prefix, ...meta, ...(file.deflated ? [deflateRawSync(Buffer.concat(dataset))] : dataset)];
  const size = parts.reduce((n, part) => n + part.length, 0);
  const out = allocate(size);
  if (out.length !== size) throw new RangeError(`allocate(${size}) answered ${out.length} bytes`);
  let at = 0;
  for (const part of parts) at += part.copy(out, at);
  return out;
}
