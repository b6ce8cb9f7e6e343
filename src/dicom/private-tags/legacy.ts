/**
 * Reads the original Python tool's `KidneyVolInfo` block from an image (issue 16, part 2). The tool
 * wrote `(0011,0010) "KidneyVolInfo"`, `(0011,1010) "Right Kidney: 125 ml"`, `(0011,1011) "Left
 * Kidney: 132 ml"` at fixed tags, over whatever creator held the slot; this reader finds the block
 * by its creator string in any slot (PS3.5 section 7.8.1). Our own step's block carries a digest and
 * the source series (README.md beside this file): a file holding one of those is ours and ignored.
 * Pure: bytes in, lines out; parsing the lines is the measurement parser's job.
 */
import { BlockOffset, KIDNEY_CREATOR, blockTag, privateCreators } from './layout.js';
import { parsePart10 } from './part10-file.js';
import { textOf } from './scan.js';

/** What an image says about the original tool's block. */
export type LegacyBlockReading =
  | { readonly kind: 'none' }
  /** A block written by this project's private-tag step (a derived copy): never input. */
  | { readonly kind: 'ours'; readonly slot: number }
  /** A creator is there but the block holds nothing a person could mean as volumes. */
  | { readonly kind: 'unsure'; readonly slot: number; readonly reason: string }
  | { readonly kind: 'lines'; readonly slot: number; readonly lines: readonly LegacyLine[] };

/** One text line split at its last colon, as the tool wrote it: "<name>: <value> <unit>". */
export interface LegacyLine {
  readonly text: string;
  readonly name: string;
  readonly value: string;
}

/** The longest text an LO holds (PS3.5 table 6.2-1); a longer "line" is not the tool's. */
const LO_MAX = 64;

/** Reads the block from Part-10 bytes. Throws Part10FormatError when the bytes are not a DICOM file. */
export function readLegacyBlock(bytes: Buffer): LegacyBlockReading {
  const file = parsePart10(bytes);
  const slots = [...privateCreators(file.dataset, file.elements)].filter(([, creator]) => creator === KIDNEY_CREATOR).map(([slot]) => slot);
  if (slots.length === 0) return { kind: 'none' };
  const byTag = new Map(file.elements.map((e) => [e.tag, e]));
  const at = (slot: number, offset: number): string | undefined => textOf(file.dataset, byTag.get(blockTag(slot, offset)));
  // Our step copies the source's elements byte for byte, so a derived copy of a legacy image holds
  // both blocks: if any block is ours, the file is a copy we made and says nothing new.
  const ours = slots.find((slot) => at(slot, BlockOffset.digest) !== undefined || at(slot, BlockOffset.sourceSeries) !== undefined);
  if (ours !== undefined) return { kind: 'ours', slot: ours };
  const slot = slots[0] as number;
  if (slots.length > 1) return { kind: 'unsure', slot, reason: `${slots.length} "${KIDNEY_CREATOR}" creators in group 0011 (slots ${slots.map(hex).join(', ')})` };
  const lines: LegacyLine[] = [];
  for (let offset = BlockOffset.firstText; offset <= BlockOffset.lastText; offset++) {
    const text = at(slot, offset);
    if (text === undefined) break;
    const line = splitLine(text.trim());
    if (typeof line === 'string') return { kind: 'unsure', slot, reason: `(0011,${hex(slot)}${hex(offset)}) ${line}` };
    lines.push(line);
  }
  if (lines.length === 0) return { kind: 'unsure', slot, reason: `creator "${KIDNEY_CREATOR}" at (0011,00${hex(slot)}) has no text line at (0011,${hex(slot)}10)` };
  return { kind: 'lines', slot, lines };
}

/** "Right Kidney: 125 ml" as name and value, or why it is not such a line. */
export function splitLine(text: string): LegacyLine | string {
  const shown = JSON.stringify(text.length > LO_MAX ? `${text.slice(0, LO_MAX)}…` : text);
  if (text.length > LO_MAX) return `is longer than an LO value: ${shown}`;
  const colon = text.lastIndexOf(':');
  const name = text.slice(0, Math.max(colon, 0)).trim();
  const value = text.slice(colon + 1).trim();
  if (colon < 0 || name === '' || value === '') return `is not "<name>: <volume> <unit>": ${shown}`;
  return { text, name, value };
}

function hex(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0');
}
