/** Reads our private block back from a file, found by its creator string (PS3.5 section 7.8.1). */
import type { Encoding } from './encoding.js';
import { BlockOffset, KIDNEY_CREATOR, blockTag, kidneySlot, privateCreators, type BlockEstimate, type KidneyBlockContent } from './layout.js';
import { parsePart10, type Part10File } from './part10-file.js';
import { textOf, type ScannedElement } from './scan.js';

/** Our block as found in a file: where it sits and what it says. */
export interface FoundKidneyBlock extends KidneyBlockContent {
  readonly creator: typeof KIDNEY_CREATOR;
  /** The creator slot, e.g. 0x10 for (0011,0010). */
  readonly slot: number;
}

/** Our block in a parsed file, or undefined when no creator in group 0011 is ours. */
export function findKidneyBlock(file: Part10File): FoundKidneyBlock | undefined {
  const slot = kidneySlot(privateCreators(file.dataset, file.elements));
  if (slot === undefined) return undefined;
  const byTag = new Map(file.elements.map((e) => [e.tag, e]));
  const at = (offset: number): ScannedElement | undefined => byTag.get(blockTag(slot, offset));
  const lines: string[] = [];
  const volumesMl: number[] = [];
  for (let offset = BlockOffset.firstText; offset <= BlockOffset.lastText; offset++) {
    const line = textOf(file.dataset, at(offset));
    if (line === undefined) break;
    lines.push(line);
  }
  for (let offset = BlockOffset.firstVolume; offset <= BlockOffset.lastVolume; offset++) {
    const element = at(offset);
    if (!element || element.valueLength < 8) break;
    volumesMl.push(readDouble(file.dataset, element.valueStart, file.encoding));
  }
  const estimates: BlockEstimate[] = [];
  for (let index = 0; index <= BlockOffset.lastEstimate - BlockOffset.firstEstimate; index++) {
    const text = textOf(file.dataset, at(BlockOffset.firstEstimate + index));
    const triple = at(BlockOffset.firstDiameters + index);
    if (text === undefined) continue;
    const diametersMm = triple && triple.valueLength >= 24 ? [0, 8, 16].map((o) => readDouble(file.dataset, triple.valueStart + o, file.encoding)) : [];
    estimates.push({ index, text, diametersMm });
  }
  return {
    creator: KIDNEY_CREATOR,
    slot,
    lines,
    volumesMl,
    ...(estimates.length > 0 ? { estimates } : {}),
    digest: textOf(file.dataset, at(BlockOffset.digest)) ?? '',
    sourceSeriesInstanceUid: textOf(file.dataset, at(BlockOffset.sourceSeries)) ?? '',
  };
}

/** Our block in Part-10 bytes, or undefined when the file has none. */
export function readKidneyBlock(bytes: Buffer): FoundKidneyBlock | undefined {
  return findKidneyBlock(parsePart10(bytes));
}

function readDouble(buf: Buffer, pos: number, encoding: Encoding): number {
  return encoding.littleEndian ? buf.readDoubleLE(pos) : buf.readDoubleBE(pos);
}
