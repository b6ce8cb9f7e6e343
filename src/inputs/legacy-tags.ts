/**
 * The original tool's private block as a source of the study's measurements (issue 16, part 2):
 * its lines parsed by the measurement parser, as a mark, or the reason the block is not used. Pure.
 */
import type { LegacyBlockReading } from '../dicom/private-tags/legacy.js';
import { messageOf } from '../errors.js';
import { dicomMark, type DicomMark } from './mark.js';
import type { DicomOrigin } from '../measurements/origin.js';

/** Method and source of every measurement read from the block. */
export const LEGACY_METHOD = 'original tool (private tags)';
/** The creator string, named as the source. */
export const LEGACY_SOURCE = 'KidneyVolInfo';

/** The image the block was read from. */
export interface LegacyImage {
  readonly seriesInstanceUid: string;
  readonly orthancSeriesId: string;
  readonly sopInstanceUid: string;
  readonly orthancInstanceId: string;
}

/** What a block gives the study. */
export type LegacySource =
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'mark'; readonly origin: DicomOrigin; readonly mark: DicomMark };

/** Turns a block reading into a mark; lines the parser refuses make the whole block unsure. */
export function legacySource(reading: LegacyBlockReading, image: LegacyImage): LegacySource {
  if (reading.kind === 'none') return { kind: 'skip', reason: 'no KidneyVolInfo block' };
  if (reading.kind === 'ours') return { kind: 'skip', reason: "a derived copy made by the sidecar's own private-tag step" };
  const creator = `(0011,00${reading.slot.toString(16).toUpperCase().padStart(2, '0')})`;
  if (reading.kind === 'unsure') return { kind: 'ignored', reason: `the KidneyVolInfo block at ${creator}: ${reading.reason}` };
  try {
    const mark = dicomMark(reading.lines.map((l) => ({ name: l.name, value: l.value, method: LEGACY_METHOD, source: LEGACY_SOURCE })));
    return { kind: 'mark', origin: { kind: 'legacy-tags', ...image, creator }, mark };
  } catch (error) {
    return { kind: 'ignored', reason: `the KidneyVolInfo block at ${creator} (${reading.lines.map((l) => JSON.stringify(l.text)).join(', ')}) is not acceptable: ${messageOf(error)}` };
  }
}
