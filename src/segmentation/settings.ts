/** Settings of the segmentation trigger: the KV_SEGMENTATION switch and the KV_SEGMENT_LABELS list. */
import { DEFAULT_SEGMENT_LABELS, type SegmentLabels } from './match.js';

/** What the trigger needs to know. */
export interface SegmentationSettings {
  /** False: SEGs are ignored (KV_SEGMENTATION=off). */
  readonly enabled: boolean;
  /** Labels that mean each kidney, used when a segment's codes do not say. */
  readonly labels: SegmentLabels;
}

/** On, with the default labels. */
export const DEFAULT_SEGMENTATION_SETTINGS: SegmentationSettings = { enabled: true, labels: DEFAULT_SEGMENT_LABELS };

const ON = new Set(['on', 'true', '1', 'yes']);
const OFF = new Set(['off', 'false', '0', 'no']);

/** Parses an on/off switch; undefined when the text is neither. */
export function parseSwitch(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  return ON.has(t) ? true : OFF.has(t) ? false : undefined;
}
