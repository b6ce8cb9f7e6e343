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
