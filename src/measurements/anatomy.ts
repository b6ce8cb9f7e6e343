/** Which anatomy a measurement name means ("Right Kidney", "kidney_right", "TKV"...). */
import type { Anatomy } from './model.js';

// A Map, so that names like "constructor" or "__proto__" are plain names without an anatomy.
const NAMES: ReadonlyMap<string, Anatomy> = new Map(
  Object.entries({
    'right kidney': 'right-kidney',
    'kidney right': 'right-kidney',
    'right kidney volume': 'right-kidney',
    right: 'right-kidney',
    rk: 'right-kidney',
    'left kidney': 'left-kidney',
    'kidney left': 'left-kidney',
    'left kidney volume': 'left-kidney',
    left: 'left-kidney',
    lk: 'left-kidney',
    'total volume': 'both-kidneys',
    total: 'both-kidneys',
    'total kidney volume': 'both-kidneys',
    tkv: 'both-kidneys',
    'both kidneys': 'both-kidneys',
    kidneys: 'both-kidneys',
    'total kidneys': 'both-kidneys',
    spleen: 'spleen',
    'spleen volume': 'spleen',
    liver: 'liver',
    'liver volume': 'liver',
  } satisfies Record<string, Anatomy>),
);

/** Lower case, with underscores, dashes and runs of spaces folded to one space. */
export function normaliseName(name: string): string {
  return name.trim().toLowerCase().replace(/[_\-\s]+/g, ' ');
}

/**
 * What one measurement measures, the part of its identity that survives corrections: the coded
 * anatomy when it has one (so "Right Kidney" corrected to "right kidney 2nd read" stays the right
 * kidney), else the name as the parser compares names (case, underscores and spaces folded).
 * A set holds each anatomy and each folded name once, so the key is unique in a set.
 */
export function structureKey(m: { readonly name: string; readonly anatomy?: string | undefined }): string {
  return m.anatomy !== undefined ? `anatomy:${m.anatomy}` : `name:${normaliseName(m.name)}`;
}

/** The anatomy a name stands for, or undefined for other named volumes. */
export function anatomyForName(name: string): Anatomy | undefined {
  return NAMES.get(normaliseName(name));
}

/** Display names used when the CLI's --right/--left/--total flags create a measurement. */
export const DEFAULT_NAMES: Readonly<Record<'right' | 'left' | 'total', string>> = {
  right: 'Right Kidney',
  left: 'Left Kidney',
  total: 'Total Volume',
};
