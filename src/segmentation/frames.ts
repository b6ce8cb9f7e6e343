/**
 * Pixel data of a native (uncompressed) SEG, summed per frame (PS3.5 section 8.1.1 and PS3.3
 * C.8.20.2): binary segmentations pack one bit per pixel with no padding between frames, so a frame
 * may start in the middle of a byte; fractional ones store one 8- or 16-bit value per pixel.
 */
import { numberOf, SegmentationError, textOf, type SegmentationType } from './iod.js';

/** Transfer syntaxes whose pixel data we can read as is: implicit and explicit VR little endian. */
const NATIVE_LITTLE_ENDIAN = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1']);

/**
 * Largest pixel data a SEG may declare (Rows x Columns x NumberOfFrames x BitsAllocated): 1 GiB, far
 * beyond a kidney segmentation (512 x 512 x 2000 frames of 16 bits is 1 GiB). A header that claims
 * more is refused before anything of that size is read or allocated.
 */
export const MAX_PIXEL_DATA_BYTES = 1024 ** 3;

/** How to turn one frame's stored values into a sum of voxel fractions. */
export interface PixelFormat {
  readonly type: SegmentationType;
  readonly rows: number;
  readonly columns: number;
  readonly frames: number;
  readonly bitsAllocated: 1 | 8 | 16;
  /** MaximumFractionalValue: the stored value that means "the whole voxel" (fractional only). */
  readonly maximumFractionalValue: number;
}

/** Reads and checks the Image Pixel and Segmentation Image attributes that say how pixels are stored. */
export function pixelFormat(dataset: Record<string, unknown>, transferSyntaxUid: string): PixelFormat {
  if (!NATIVE_LITTLE_ENDIAN.has(transferSyntaxUid)) {
    throw new SegmentationError(`SEG pixel data must be uncompressed little endian (1.2.840.10008.1.2 or 1.2.840.10008.1.2.1), got transfer syntax ${transferSyntaxUid}`);
  }
  const type = textOf(dataset['SegmentationType']);
  if (type !== 'BINARY' && type !== 'FRACTIONAL') throw new SegmentationError(`SegmentationType must be BINARY or FRACTIONAL, got "${type}"`);
  const rows = numberOf(dataset['Rows']) ?? 0;
  const columns = numberOf(dataset['Columns']) ?? 0;
  const frames = numberOf(dataset['NumberOfFrames']) ?? 1;
  const bits = numberOf(dataset['BitsAllocated']);
  if (!(rows > 0 && columns > 0 && frames > 0) || ![rows, columns, frames].every(Number.isSafeInteger)) {
    throw new SegmentationError(`Rows, Columns and NumberOfFrames must be positive whole numbers, got ${rows}, ${columns}, ${frames}`);
  }
  if (type === 'BINARY' && bits !== 1) throw new SegmentationError(`a BINARY SEG must have BitsAllocated 1, got ${String(bits)}`);
  if (type === 'FRACTIONAL' && bits !== 8 && bits !== 16) throw new SegmentationError(`a FRACTIONAL SEG must have BitsAllocated 8 or 16, got ${String(bits)}`);
  const declared = (rows * columns * frames * (bits ?? 1)) / 8;
  if (declared > MAX_PIXEL_DATA_BYTES) {
    throw new SegmentationError(`Rows x Columns x NumberOfFrames (${rows} x ${columns} x ${frames} at ${String(bits)} bits) claims ${Math.ceil(declared)} bytes of pixel data, more than the ${MAX_PIXEL_DATA_BYTES} this reader accepts`);
  }
  const perFrame = dataset['PerFrameFunctionalGroupsSequence'];
  const items = Array.isArray(perFrame) ? perFrame.length : perFrame !== undefined && perFrame !== null ? 1 : 0;
  // PS3.3 C.7.6.16: one item per frame. Another count means NumberOfFrames or the groups are wrong.
  if (items !== frames) throw new SegmentationError(`NumberOfFrames is ${frames} but the PerFrameFunctionalGroupsSequence has ${items} items; they must be equal`);
  const maximum = type === 'FRACTIONAL' ? numberOf(dataset['MaximumFractionalValue']) : 1;
  if (maximum === undefined || !(maximum > 0)) throw new SegmentationError(`a FRACTIONAL SEG needs a positive MaximumFractionalValue, got ${String(maximum)}`);
  return { type, rows, columns, frames, bitsAllocated: bits as 1 | 8 | 16, maximumFractionalValue: maximum };
}

/** PixelData as one byte array; dcmjs may hand it over as one buffer or as one buffer per fragment or frame. */
export function pixelBytes(dataset: Record<string, unknown>, format: PixelFormat): Uint8Array {
  const value = dataset['PixelData'];
  const parts = (Array.isArray(value) ? value : [value]).filter((p): p is ArrayBuffer | ArrayBufferView => p instanceof ArrayBuffer || ArrayBuffer.isView(p));
  const arrays = parts.map((p) => (p instanceof ArrayBuffer ? new Uint8Array(p) : new Uint8Array(p.buffer, p.byteOffset, p.byteLength)));
  const bytes = arrays.length === 1 ? (arrays[0] as Uint8Array) : Buffer.concat(arrays);
  const needed = Math.ceil((format.rows * format.columns * format.frames * format.bitsAllocated) / 8);
  if (bytes.length < needed) {
    throw new SegmentationError(`PixelData must hold ${needed} bytes for ${format.frames} frames of ${format.rows}x${format.columns} at ${format.bitsAllocated} bits, got ${bytes.length}`);
  }
  // Beyond the one padding byte to an even length: frames NumberOfFrames does not count, which would go unmeasured.
  if (bytes.length > needed + 1) {
    throw new SegmentationError(`PixelData holds ${bytes.length} bytes, more than the ${needed} of ${format.frames} frames of ${format.rows}x${format.columns} at ${format.bitsAllocated} bits: NumberOfFrames is wrong`);
  }
  return bytes;
}

/** Set bits in each byte value, so a binary frame is counted a byte at a time. */
const POPCOUNT = Uint8Array.from({ length: 256 }, (_, b) => {
  let n = 0;
  for (let v = b; v > 0; v >>= 1) n += v & 1;
  return n;
});

/**
 * The sum of voxel fractions in frame `index` (0-based): the number of set pixels for BINARY; for
 * FRACTIONAL, each stored value divided by MaximumFractionalValue (so a PROBABILITY SEG gives the
 * expected number of voxels and an OCCUPANCY SEG the occupied volume in voxels).
 */
export function frameSum(bytes: Uint8Array, format: PixelFormat, index: number): number {
  const size = format.rows * format.columns;
  if (format.bitsAllocated === 1) return countBits(bytes, index * size, size);
  let sum = 0;
  if (format.bitsAllocated === 8) {
    for (let i = index * size, end = i + size; i < end; i++) sum += bytes[i] as number;
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = index * size, end = i + size; i < end; i++) sum += view.getUint16(i * 2, true);
  }
  return sum / format.maximumFractionalValue;
}

/** Set bits in [start, start + length) of a bit stream whose first pixel is the least significant bit of byte 0. */
export function countBits(bytes: Uint8Array, start: number, length: number): number {
  let count = 0;
  let bit = start;
  const end = start + length;
  // Leading bits up to a byte boundary, whole bytes, then the trailing bits.
  for (; bit < end && bit % 8 !== 0; bit++) count += ((bytes[bit >> 3] as number) >> (bit & 7)) & 1;
  for (; bit + 8 <= end; bit += 8) count += POPCOUNT[bytes[bit >> 3] as number] as number;
  for (; bit < end; bit++) count += ((bytes[bit >> 3] as number) >> (bit & 7)) & 1;
  return count;
}
