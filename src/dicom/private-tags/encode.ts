/** Encodes the few elements the writer adds or replaces, in the dataset's own encoding (PS3.5 section 7.1). */
import { LONG_LENGTH_VRS, Tag, elementOf, formatTag, groupOf, type Encoding } from './encoding.js';

function writeU16(buf: Buffer, pos: number, value: number, littleEndian: boolean): void {
  if (littleEndian) buf.writeUInt16LE(value, pos);
  else buf.writeUInt16BE(value, pos);
}

function writeU32(buf: Buffer, pos: number, value: number, littleEndian: boolean): void {
  if (littleEndian) buf.writeUInt32LE(value, pos);
  else buf.writeUInt32BE(value, pos);
}

/** A whole element: header and an even-length value. */
export function elementBytes(tag: number, vr: string, value: Buffer, encoding: Encoding): Buffer {
  if (value.length % 2 !== 0) throw new Error(`value of ${formatTag(tag)} must have an even length, got ${value.length} bytes`);
  const long = LONG_LENGTH_VRS.has(vr);
  if (encoding.explicitVr && !long && value.length > 0xffff) {
    throw new Error(`value of ${formatTag(tag)} (${vr}) must fit a 16-bit length, got ${value.length} bytes`);
  }
  const header = encoding.explicitVr && long ? 12 : 8;
  const out = Buffer.alloc(header + value.length);
  const le = encoding.littleEndian;
  writeU16(out, 0, groupOf(tag), le);
  writeU16(out, 2, elementOf(tag), le);
  if (!encoding.explicitVr) {
    writeU32(out, 4, value.length, le);
  } else {
    out.write(vr, 4, 'latin1');
    if (long) writeU32(out, 8, value.length, le);
    else writeU16(out, 6, value.length, le);
  }
  value.copy(out, header);
  return out;
}

/** A text value (LO, SH, ST, CS, IS, DS) from latin1-held bytes, padded with a space to an even length. */
export function textValue(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.from(' ')]);
}

/** A UI value, padded with a NUL to an even length (PS3.5 section 9.1). */
export function uidValue(uid: string): Buffer {
  const bytes = Buffer.from(uid, 'ascii');
  return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.alloc(1)]);
}

/** An FD value: IEEE 754 doubles in the dataset's byte order. */
export function doubleValues(values: readonly number[], encoding: Encoding): Buffer {
  const out = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => (encoding.littleEndian ? out.writeDoubleLE(v, 8 * i) : out.writeDoubleBE(v, 8 * i)));
  return out;
}

/** A UL value in the dataset's byte order. */
export function ulValue(value: number, encoding: Encoding): Buffer {
  const out = Buffer.alloc(4);
  writeU32(out, 0, value, encoding.littleEndian);
  return out;
}

/** An item of defined length holding already encoded elements. */
export function itemBytes(content: readonly Buffer[], encoding: Encoding): Buffer {
  const body = Buffer.concat(content);
  const header = Buffer.alloc(8);
  writeU16(header, 0, groupOf(Tag.Item), encoding.littleEndian);
  writeU16(header, 2, elementOf(Tag.Item), encoding.littleEndian);
  writeU32(header, 4, body.length, encoding.littleEndian);
  return Buffer.concat([header, body]);
}

/** A defined-length sequence element (VR SQ) holding already encoded items. */
export function sequenceBytes(tag: number, items: readonly Buffer[], encoding: Encoding): Buffer {
  return elementBytes(tag, 'SQ', Buffer.concat(items), encoding);
}

/** Just the header of a sequence element with the given length (or 0xFFFFFFFF), for splicing items after existing ones. */
export function sequenceHeader(tag: number, length: number, encoding: Encoding): Buffer {
  const header = elementBytes(tag, 'SQ', Buffer.alloc(0), encoding);
  writeU32(header, header.length - 4, length, encoding.littleEndian);
  return header;
}
