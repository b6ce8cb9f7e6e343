/** Volume units accepted on input, and exact decimal conversion to millilitres. */

/**
 * Accepted unit spellings and the power of ten that turns them into mL. A Map, not an object
 * literal: "toString" or "constructor" must be unknown units, not Object.prototype's members.
 */
const UNIT_SCALE: ReadonlyMap<string, number> = new Map([
  ['ml', 0],
  ['mL', 0],
  ['ML', 0],
  ['cm3', 0],
  ['cc', 0],
  ['l', 3],
  ['L', 3],
]);

/** The accepted unit spellings, for messages and docs. */
export const ACCEPTED_UNITS: readonly string[] = [...UNIT_SCALE.keys()];

/** The power of ten from the unit to mL, or undefined for an unknown unit. */
export function unitScale(unit: string): number | undefined {
  return UNIT_SCALE.get(unit);
}

/**
 * Accepted length spellings (diameters), the unit a diameter is kept in, and the power of ten to
 * it. A Map for the same reason as UNIT_SCALE. Metres become centimetres: the SR writes mm or cm.
 */
const LENGTH_UNITS: ReadonlyMap<string, { readonly unit: 'mm' | 'cm'; readonly power: number }> = new Map([
  ['mm', { unit: 'mm', power: 0 }],
  ['cm', { unit: 'cm', power: 0 }],
  ['m', { unit: 'cm', power: 2 }],
] as const);

/** The accepted length spellings, for messages and docs. */
export const ACCEPTED_LENGTH_UNITS: readonly string[] = [...LENGTH_UNITS.keys()];

/** The unit a length is kept in and the power of ten to it, or undefined for an unknown unit. */
export function lengthUnit(unit: string): { readonly unit: 'mm' | 'cm'; readonly power: number } | undefined {
  return LENGTH_UNITS.get(unit);
}

/** Most characters of a DICOM DS value (PS3.5 Table 6.2-1), where the SR writes each volume in mL. */
export const DS_MAX_CHARACTERS = 16;

/**
 * Why a plain decimal (in mL, as written) does not fit a DS, or undefined when it fits. The answer
 * says how many significant digits this value may have: 16 characters less the point and any
 * zeros before the first significant digit.
 */
export function dsProblem(valueMl: string, unit = 'mL'): string | undefined {
  if (valueMl.length <= DS_MAX_CHARACTERS) return undefined;
  const digits = valueMl.replace('.', '');
  const leadingZeros = /^0*/.exec(digits)?.[0].length ?? 0;
  const significant = digits.length - leadingZeros;
  const allowed = DS_MAX_CHARACTERS - (valueMl.length - significant);
  return `has ${significant} significant digits (${valueMl} ${unit}); DICOM decimals (DS) hold ${DS_MAX_CHARACTERS} characters, so at most ${Math.max(allowed, 0)} significant digits for this value`;
}

const DECIMAL = /^(\d+)(?:\.(\d+))?$|^\.(\d+)$/;

/** True when text is a plain non-negative decimal number such as "125", "263.70" or ".5". */
export function isDecimal(text: string): boolean {
  return DECIMAL.test(text);
}

/**
 * Multiplies a plain decimal string by 10^power without floating point, keeping every digit the
 * input had ("0.1250" L is "125.0" mL), and drops leading zeros of the integer part.
 */
export function shiftDecimal(text: string, power: number): string {
  const match = DECIMAL.exec(text);
  if (!match) throw new Error(`not a decimal number: "${text}"`);
  const integer = match[1] ?? '';
  const fraction = match[2] ?? match[3] ?? '';
  const point = integer.length + power;
  const digits = (integer + fraction).padEnd(point, '0');
  const whole = digits.slice(0, point).replace(/^0+(?=\d)/, '') || '0';
  const rest = digits.slice(point);
  return rest.length > 0 ? `${whole}.${rest}` : whole;
}
