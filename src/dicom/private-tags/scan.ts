/**
 * Finds the top-level elements of a dataset without decoding their values (PS3.5 section 7):
 * each element's tag, VR and byte range, so a writer can copy every byte it does not change.
 * Undefined-length sequences, items and encapsulated pixel data are skipped item by item.
 */
import { IMPLICIT_LE, LONG_LENGTH_VRS, Tag, UNDEFINED_LENGTH, formatTag, groupOf, type Encoding } from './encoding.js';
import { Part10FormatError } from './errors.js';

/** One element as it sits in the bytes. */
export interface ScannedElement {
  readonly tag: number;
  /** The VR as written; undefined in implicit VR and for item tags. */
  readonly vr: string | undefined;
  /** Offset of the element's first header byte. */
  readonly start: number;
  /** Offset of the first value byte. */
  readonly valueStart: number;
  /** Value bytes; for undefined length, the bytes before the closing delimiter. */
  readonly valueLength: number;
  readonly undefinedLength: boolean;
  /** Offset just after the element (after its delimiter when undefined length). */
  readonly end: number;
}

/** A 16-bit unsigned number in the given byte order. */
export function readU16(buf: Buffer, pos: number, littleEndian: boolean): number {
  return littleEndian ? buf.readUInt16LE(pos) : buf.readUInt16BE(pos);
}

/** A 32-bit unsigned number in the given byte order. */
export function readU32(buf: Buffer, pos: number, littleEndian: boolean): number {
  return littleEndian ? buf.readUInt32LE(pos) : buf.readUInt32BE(pos);
}

function tagAt(buf: Buffer, pos: number, encoding: Encoding): number {
  return ((readU16(buf, pos, encoding.littleEndian) << 16) | readU16(buf, pos + 2, encoding.littleEndian)) >>> 0;
}

function need(pos: number, bytes: number, end: number, what: string): void {
  if (pos + bytes > end) throw new Part10FormatError(`truncated ${what}: needs ${bytes} bytes, ${Math.max(end - pos, 0)} left`, pos);
}

/** Reads the element whose header starts at `pos`, skipping over undefined-length content. */
export function readElement(buf: Buffer, pos: number, end: number, encoding: Encoding): ScannedElement {
  need(pos, 8, end, 'element header');
  const tag = tagAt(buf, pos, encoding);
  let vr: string | undefined;
  let length: number;
  let valueStart: number;
  // Items and delimiters never carry a VR, even in explicit VR syntaxes (PS3.5 section 7.5).
  if (!encoding.explicitVr || groupOf(tag) === 0xfffe) {
    length = readU32(buf, pos + 4, encoding.littleEndian);
    valueStart = pos + 8;
  } else {
    vr = buf.toString('latin1', pos + 4, pos + 6);
    if (LONG_LENGTH_VRS.has(vr)) {
      need(pos, 12, end, `header of ${formatTag(tag)}`);
      length = readU32(buf, pos + 8, encoding.littleEndian);
      valueStart = pos + 12;
    } else {
      length = readU16(buf, pos + 6, encoding.littleEndian);
      valueStart = pos + 8;
    }
  }
  if (length !== UNDEFINED_LENGTH) {
    need(valueStart, length, end, `value of ${formatTag(tag)}`);
    return { tag, vr, start: pos, valueStart, valueLength: length, undefinedLength: false, end: valueStart + length };
  }
  // An undefined-length UN holds an implicit VR little endian sequence (PS3.5 section 6.2.2, CP-246).
  const inner = vr === 'UN' ? IMPLICIT_LE : encoding;
  const after = skipItems(buf, valueStart, end, inner, tag);
  return { tag, vr, start: pos, valueStart, valueLength: after - 8 - valueStart, undefinedLength: true, end: after };
}

/** Skips items up to and including the sequence delimiter; answers the offset after it. */
function skipItems(buf: Buffer, pos: number, end: number, encoding: Encoding, owner: number): number {
  for (;;) {
    need(pos, 8, end, `item of ${formatTag(owner)}`);
    const tag = tagAt(buf, pos, encoding);
    const length = readU32(buf, pos + 4, encoding.littleEndian);
    if (tag === Tag.SequenceDelimitationItem) return pos + 8;
    if (tag !== Tag.Item) {
      throw new Part10FormatError(`expected an item or a sequence delimiter inside ${formatTag(owner)}, found ${formatTag(tag)}`, pos);
    }
    if (length !== UNDEFINED_LENGTH) {
      need(pos + 8, length, end, `item of ${formatTag(owner)}`);
      pos += 8 + length;
    } else {
      pos = skipItemDataset(buf, pos + 8, end, encoding);
    }
  }
}

/** Skips the elements of an undefined-length item up to and including its delimiter. */
function skipItemDataset(buf: Buffer, pos: number, end: number, encoding: Encoding): number {
  for (;;) {
    need(pos, 8, end, 'item content');
    if (tagAt(buf, pos, encoding) === Tag.ItemDelimitationItem) return pos + 8;
    pos = readElement(buf, pos, end, encoding).end;
  }
}

/** The top-level elements of the dataset in `buf[start, end)`, in file order. */
export function scanDataset(buf: Buffer, start: number, end: number, encoding: Encoding): ScannedElement[] {
  const elements: ScannedElement[] = [];
  let pos = start;
  while (pos < end) {
    const element = readElement(buf, pos, end, encoding);
    elements.push(element);
    pos = element.end;
  }
  return elements;
}

/** The value of a text element (any string VR) as latin1, so its bytes round-trip whatever the character set; padding removed. */
export function textOf(buf: Buffer, element: ScannedElement | undefined): string | undefined {
  if (!element) return undefined;
  return buf.toString('latin1', element.valueStart, element.valueStart + element.valueLength).replace(/[\0 ]+$/, '');
}
