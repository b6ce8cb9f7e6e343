/** Volume units accepted on input, and exact decimal conversion to millilitres. */

/** Accepted unit spellings and the power of ten that turns them into mL. */
const UNIT_SCALE: Readonly<Record<string, number>> = {
  ml: 0,
  mL: 0,
  ML: 0,
  cm3: 0,
  cc: 0,
  l: 3,
  L: 3,
};

/** The accepted unit spellings, for messages and docs. */
export const ACCEPTED_UNITS = Object.keys(UNIT_SCALE);

/** The power of ten from the unit to mL, or undefined for an unknown unit. */
export function unitScale(unit: string): number | undefined {
  return UNIT_SCALE[unit];
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
