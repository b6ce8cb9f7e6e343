/**
 * A Part-10 writer (PS3.10 section 7.1, PS3.5 section 7.1.2 Explicit VR Little Endian) for the
 * denaturalized datasets dcmjs makes, giving byte for byte the file dcmjs's DicomDict.write gives
 * for the value representations it covers (issue 17). dcmjs builds a buffer object, a 256 KB
 * block and a TextEncoder per element: 7.8 ms of CPU for a 5 KB Measurement Report, the largest
 * cost of a study in the sidecar after HTTP, and much of its garbage. dcmjs still maps keywords to
 * tags and VRs (denaturalizeDataset) and still writes anything outside what this writer covers:
 * `writeExplicitLittleEndian` answers undefined for it, and part10.ts falls back.
 */

/** One element of dcmjs's denaturalized form: its VR and its values (strings once denaturalized, datasets for SQ, buffers for OB). */
export interface DenaturalizedElement {
  readonly vr: string;
  readonly Value?: readonly unknown[] | null;
}

/** A dataset in dcmjs's denaturalized form, keyed by eight hex digits (group, element). */
export type DenaturalizedDataset = Readonly<Record<string, DenaturalizedElement>>;

/** Value representations whose values are ASCII text; the padding byte of each (PS3.5 section 6.2). */
const ASCII_PADDING: ReadonlyMap<string, number> = new Map([
  ['CS', 0x20],
  ['DA', 0x20],
  ['TM', 0x20],
  ['DS', 0x20],
  ['IS', 0x20],
  ['UI', 0x00],
]);
/** Longest value dcmjs writes without throwing (its maxLength); a longer one is left to dcmjs. */
const ASCII_MAX: ReadonlyMap<string, number> = new Map([
  ['CS', 16],
  ['DA', 8],
  ['TM', 16],
  ['DS', 16],
  ['IS', 12],
  ['UI', 64],
]);
/** Value representations whose values are text in the dataset's character set, which dcmjs always writes as UTF-8. */
const ENCODED: ReadonlySet<string> = new Set(['SH', 'LO', 'UT', 'PN']);
/** Value representations with a 4-byte length in Explicit VR (PS3.5 table 7.1-1) among those written here. */
const LONG_LENGTH: ReadonlySet<string> = new Set(['OB', 'SQ', 'UT']);
/** PN component group length limit (PS3.5 table 6.2-1), beyond which dcmjs throws. */
const PN_COMPONENT_MAX = 64;
const BACKSLASH = 0x5c;
const UNDEFINED_LENGTH = 0xffffffff;

/** Thrown inside the writer when an element is outside what it covers; caught by writeExplicitLittleEndian. */
class NotCovered extends Error {}

/** Grows a byte buffer as elements are written. */
class Output {
  private buffer = Buffer.allocUnsafe(8192);
  length = 0;

  /** Makes room for `bytes` more bytes. */
  private room(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const larger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(larger, 0, 0, this.length);
    this.buffer = larger;
  }

  uint16(value: number): void {
    this.room(2);
    this.buffer.writeUInt16LE(value, this.length);
    this.length += 2;
  }

  uint32(value: number): void {
    this.room(4);
    this.buffer.writeUInt32LE(value, this.length);
    this.length += 4;
  }

  bytes(data: Uint8Array): void {
    this.room(data.length);
    this.buffer.set(data, this.length);
    this.length += data.length;
  }

  byte(value: number): void {
    this.room(1);
    this.buffer[this.length++] = value;
  }

  ascii(text: string): void {
    this.room(text.length);
    this.length += this.buffer.write(text, this.length, 'latin1');
  }

  /** The bytes written, copied out of the growing buffer. */
  result(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.length));
  }
}

/**
 * Writes a Part-10 file: preamble, "DICM", the meta group (with its group length) and the dataset,
 * both in Explicit VR Little Endian, elements in ascending tag order; sequences and items of
 * undefined length, as dcmjs writes them. Undefined when an element is outside what it covers (another
 * VR, a value dcmjs would refuse or reformat): the caller then lets dcmjs write the file.
 */
export function writeExplicitLittleEndian(meta: DenaturalizedDataset, dataset: DenaturalizedDataset): Buffer | undefined {
  try {
    const metaGroup = new Output();
    writeDataset(metaGroup, meta);
    const out = new Output();
    out.bytes(new Uint8Array(128));
    out.ascii('DICM');
    // (0002,0000) FileMetaInformationGroupLength, UL: the bytes of the meta elements after it.
    out.uint16(0x0002);
    out.uint16(0x0000);
    out.ascii('UL');
    out.uint16(4);
    out.uint32(metaGroup.length);
    out.bytes(metaGroup.result());
    writeDataset(out, dataset);
    return out.result();
  } catch (error) {
    if (error instanceof NotCovered) return undefined;
    throw error;
  }
}

function writeDataset(out: Output, dataset: DenaturalizedDataset): void {
  // dcmjs sorts the keys as strings: eight upper-case hex digits sort as the tags do.
  for (const tag of Object.keys(dataset).sort()) {
    const element = dataset[tag];
    if (element === undefined || !/^[0-9A-F]{8}$/.test(tag)) throw new NotCovered(tag);
    writeElement(out, Number.parseInt(tag.slice(0, 4), 16), Number.parseInt(tag.slice(4), 16), element);
  }
}

function writeElement(out: Output, group: number, element: number, { vr, Value }: DenaturalizedElement): void {
  out.uint16(group);
  out.uint16(element);
  out.ascii(vr);
  if (vr === 'SQ') {
    out.uint16(0);
    out.uint32(UNDEFINED_LENGTH);
    for (const item of Value ?? []) {
      if (typeof item !== 'object' || item === null) throw new NotCovered('SQ item');
      out.uint16(0xfffe);
      out.uint16(0xe000);
      out.uint32(UNDEFINED_LENGTH);
      writeDataset(out, item as DenaturalizedDataset);
      out.uint16(0xfffe);
      out.uint16(0xe00d);
      out.uint32(0);
    }
    out.uint16(0xfffe);
    out.uint16(0xe0dd);
    out.uint32(0);
    return;
  }
  const { bytes, padding } = valueBytes(vr, Value ?? null);
  const length = bytes.length + (bytes.length & 1);
  if (LONG_LENGTH.has(vr)) {
    out.uint16(0);
    out.uint32(length);
  } else {
    // dcmjs writes a longer value as UN with a 4-byte length: left to it.
    if (length > 0xffff) throw new NotCovered(`${vr} of ${length} bytes`);
    out.uint16(length);
  }
  out.bytes(bytes);
  if (bytes.length & 1) out.byte(padding);
}

/** The bytes of one element's values, before padding to an even length, and the padding byte. */
function valueBytes(vr: string, values: readonly unknown[] | null): { bytes: Uint8Array; padding: number } {
  if (vr === 'OB') {
    const data = values?.[0];
    if (values === null || values.length !== 1 || !(data instanceof ArrayBuffer)) throw new NotCovered('OB');
    return { bytes: new Uint8Array(data), padding: 0x00 };
  }
  const asciiPadding = ASCII_PADDING.get(vr);
  if (asciiPadding !== undefined) {
    const max = ASCII_MAX.get(vr) ?? 0;
    const texts = (values ?? []).map((v) => {
      if (typeof v !== 'string' || v.length > max) throw new NotCovered(vr);
      return v;
    });
    return { bytes: Buffer.from(texts.join('\\'), 'latin1'), padding: asciiPadding };
  }
  if (vr === 'PN') return { bytes: Buffer.from(personNames(values ?? []), 'utf8'), padding: 0x20 };
  if (ENCODED.has(vr)) {
    const texts = (values ?? []).map((v) => {
      if (typeof v !== 'string') throw new NotCovered(vr);
      return Buffer.from(v, 'utf8');
    });
    return { bytes: joined(texts), padding: 0x20 };
  }
  throw new NotCovered(vr);
}

/** PN values as dcmjs writes them: component groups joined by "=", trailing empty ones dropped, values by "\". */
function personNames(values: readonly unknown[]): string {
  return values
    .filter(Boolean)
    .map((v) => {
      // dcmjs boxes a PN given as text (new String) to hang its accessors on it.
      if (typeof v === 'string' || v instanceof String) return checkedName(String(v));
      if (typeof v !== 'object' || v === null) throw new NotCovered('PN');
      const { Alphabetic, Ideographic, Phonetic } = v as { Alphabetic?: unknown; Ideographic?: unknown; Phonetic?: unknown };
      const groups = [Alphabetic, Ideographic, Phonetic].map((g) => {
        if (g !== undefined && g !== null && typeof g !== 'string') throw new NotCovered('PN');
        return g ?? '';
      });
      return checkedName(groups.join('=').replace(/=*$/, ''));
    })
    .join('\\');
}

/** A person name whose component groups dcmjs accepts (it throws on one over 64 characters). */
function checkedName(name: string): string {
  if (name.split(/[=\\]/).some((c) => c.length > PN_COMPONENT_MAX)) throw new NotCovered('PN component group');
  return name;
}

function joined(parts: readonly Uint8Array[]): Uint8Array {
  const separators = Math.max(0, parts.length - 1);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0) + separators);
  let at = 0;
  parts.forEach((p, index) => {
    if (index > 0) out[at++] = BACKSLASH;
    out.set(p, at);
    at += p.length;
  });
  return out;
}
