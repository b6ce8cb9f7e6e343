/**
 * A kidney's three diameters (ultrasound) and the volume estimated from them as an ellipsoid,
 * V = pi/6 x L x W x D. The one parser of diameters: the CLI's "11.2x5.1x4.8cm", the mark's
 * {"length": "11.2 cm", "width": "5.1 cm", "depth": "4.8 cm"}, the batch file and DICOM all come here.
 * Exact decimals throughout (BigInt); pi is taken to 75 digits, far beyond any DS.
 */
import { InvalidMeasurementsError } from '../errors.js';
import type { Diameter, EllipsoidDiameters } from './model.js';
import { ACCEPTED_LENGTH_UNITS, dsProblem, isDecimal, lengthUnit, shiftDecimal } from './units.js';

/** The three diameters, in the order the dims text gives them. */
export const DIAMETER_KEYS = ['length', 'width', 'depth'] as const;
/** One of the three diameters. */
export type DiameterKey = (typeof DIAMETER_KEYS)[number];
/** Largest plausible diameter of an organ measured this way, in mm (50 cm). */
export const MAX_DIAMETER_MM = 500;
/** Longest dims text or diameter text read; longer is refused before any regular expression runs. */
const MAX_TEXT = 100;

/** pi x 10^75, truncated: the error it brings is below 10^-74 of the volume. */
const PI_E75 = 3141592653589793238462643383279502884197169399375105820974944592307816406286n;
const PI_SCALE = 75;
/** Separators between the three diameters: x, ×, *. */
const SEPARATOR = /\s*[x×*]\s*/;
/** A number with an optional unit, as checkVolume reads "125 ml". */
const NUMBER_AND_UNIT = /^([^A-Za-z\s]*)\s*([A-Za-z][A-Za-z0-9]*)?$/;

/**
 * Parses "11.2x5.1x4.8cm", "11.2 x 5.1 x 4.8 cm" or "112mm x 51mm x 48mm": length, width, depth,
 * with one unit at the end or one unit after every number.
 */
export function parseDimensions(name: string, text: string): EllipsoidDiameters {
  const trimmed = text.trim();
  if (trimmed.length > MAX_TEXT) throw invalid(name, `diameters must be at most ${MAX_TEXT} characters, got ${trimmed.length}`);
  const parts = trimmed.split(SEPARATOR);
  if (parts.length !== 3) throw invalid(name, `diameters must be three lengths "<length>x<width>x<depth> <unit>", e.g. "11.2x5.1x4.8 cm", got "${trimmed}"`);
  const read = parts.map((part) => NUMBER_AND_UNIT.exec(part) ?? undefined);
  const units = read.map((m) => m?.[2]);
  const lastUnit = units[2];
  const unitsGiven = units.filter((u) => u !== undefined).length;
  if (lastUnit === undefined || (unitsGiven !== 1 && unitsGiven !== 3)) {
    throw invalid(name, `diameters "${trimmed}" need one unit at the end or one after every number, e.g. "11.2x5.1x4.8 cm"`);
  }
  const [length, width, depth] = DIAMETER_KEYS.map((key, i) => diameter(name, key, read[i]?.[1] ?? parts[i] ?? '', units[i] ?? lastUnit)) as [Diameter, Diameter, Diameter];
  return { length, width, depth };
}

/**
 * Parses {"length": "11.2 cm", "width": "5.1 cm", "depth": "4.8 cm"}; numbers are accepted with a
 * "unit" key beside them ({"length": 11.2, ..., "unit": "cm"}).
 */
export function parseDiameterObject(name: string, value: unknown): EllipsoidDiameters {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(name, `diameters must be {"length", "width", "depth"} or a text such as "11.2x5.1x4.8 cm", got ${describeValue(value)}`);
  }
  const record = value as Record<string, unknown>;
  const known: readonly string[] = [...DIAMETER_KEYS, 'unit'];
  const unknownKey = Object.keys(record).find((k) => !known.includes(k));
  if (unknownKey !== undefined) throw invalid(name, `unknown key "${unknownKey}" among the diameters; known: ${known.join(', ')}`);
  const shared = record['unit'];
  if (shared !== undefined && typeof shared !== 'string') throw invalid(name, `diameters' unit must be a text such as "cm", got ${describeValue(shared)}`);
  const [length, width, depth] = DIAMETER_KEYS.map((key) => {
    const given = Object.hasOwn(record, key) ? record[key] : undefined;
    if (given === undefined) throw invalid(name, `the ${key} is missing; give length, width and depth`);
    return diameterValue(name, key, given, shared?.trim());
  }) as [Diameter, Diameter, Diameter];
  return { length, width, depth };
}

/** Diameters as given anywhere: the dims text or the object. */
export function parseDiameters(name: string, value: unknown): EllipsoidDiameters {
  return typeof value === 'string' ? parseDimensions(name, value) : parseDiameterObject(name, value);
}

/**
 * The ellipsoid volume pi/6 x L x W x D in mL, as a plain decimal with as many significant digits
 * as the least precise diameter (the rule for a product): 11.2 x 5.1 x 4.8 cm gives "140".
 */
export function ellipsoidVolumeMl(d: EllipsoidDiameters): string {
  const inMm = DIAMETER_KEYS.map((k) => decimalParts(shiftDecimal(d[k].value, d[k].unit === 'cm' ? 1 : 0)));
  const digits = Math.min(...DIAMETER_KEYS.map((k) => significantDigits(d[k].value)));
  let product = (PI_E75 / 6n) * inMm.reduce((p, x) => p * x.digits, 1n);
  // The product is in mm³ x 10^exponent; 1 mL = 1000 mm³.
  let exponent = -PI_SCALE - inMm.reduce((s, x) => s + x.scale, 0) - 3;
  const drop = product.toString().length - digits;
  if (drop > 0) {
    const unit = 10n ** BigInt(drop);
    const rest = product % unit;
    product = product / unit + (2n * rest >= unit ? 1n : 0n);
    exponent += drop;
  }
  return plainDecimal(product, exponent);
}

/** Significant digits of a plain decimal as written: "11.2" 3, "0.50" 2, "120" 3. */
export function significantDigits(text: string): number {
  return text.replace('.', '').replace(/^0+/, '').length;
}

/** "11.2 x 5.1 x 4.8 cm" (one unit when all share it), for messages, the private block and HL7. */
export function describeDiameters(d: EllipsoidDiameters): string {
  const units = new Set(DIAMETER_KEYS.map((k) => d[k].unit));
  if (units.size === 1) return `${DIAMETER_KEYS.map((k) => d[k].value).join(' x ')} ${d.length.unit}`;
  return DIAMETER_KEYS.map((k) => `${d[k].value} ${d[k].unit}`).join(' x ');
}

/** A diameter in mm as a number (the private block's FD values). */
export function diameterMm(d: Diameter): number {
  return Number(shiftDecimal(d.value, d.unit === 'cm' ? 1 : 0));
}

function diameterValue(name: string, key: DiameterKey, value: unknown, shared: string | undefined): Diameter {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(name, `the ${key} must be finite, got ${value}`);
    if (shared === undefined) throw invalid(name, `the ${key} ${value} has no unit; write e.g. "${value} cm" or add "unit": "cm"`);
    return diameter(name, key, String(value), shared);
  }
  if (typeof value !== 'string') throw invalid(name, `the ${key} must be a text such as "11.2 cm", got ${describeValue(value)}`);
  if (value.length > MAX_TEXT) throw invalid(name, `the ${key} must be at most ${MAX_TEXT} characters, got ${value.length}`);
  const match = NUMBER_AND_UNIT.exec(value.trim());
  const inline = match?.[2];
  if (inline !== undefined && shared !== undefined) throw invalid(name, `the ${key} "${value.trim()}" has a unit and "unit" is given too; give one`);
  const unit = inline ?? shared;
  if (unit === undefined) throw invalid(name, `the ${key} "${value.trim()}" has no unit; write e.g. "${value.trim()} cm"`);
  return diameter(name, key, match?.[1] ?? value.trim(), unit);
}

/** Checks one number and unit; the value keeps its digits, metres become centimetres exactly. */
function diameter(name: string, key: DiameterKey, numberText: string, unitText: string): Diameter {
  const unit = lengthUnit(unitText);
  if (unit === undefined) throw invalid(name, `unknown length unit "${unitText}" for the ${key}; use one of ${ACCEPTED_LENGTH_UNITS.join(', ')}`);
  if (numberText === '') throw invalid(name, `the ${key} must be a number, got nothing before "${unitText}"`);
  if (numberText.startsWith('-') && isDecimal(numberText.slice(1))) throw invalid(name, `the ${key} must be positive, got "${numberText} ${unitText}"`);
  if (!isDecimal(numberText)) throw invalid(name, `the ${key} must be a number, got "${numberText}"`);
  const value = shiftDecimal(numberText, unit.power);
  const mm = Number(shiftDecimal(value, unit.unit === 'cm' ? 1 : 0));
  if (mm === 0) throw invalid(name, `the ${key} must be positive, got "${numberText} ${unitText}"`);
  if (mm > MAX_DIAMETER_MM) throw invalid(name, `the ${key} must be at most ${MAX_DIAMETER_MM} mm, got "${numberText} ${unitText}"`);
  const tooLong = dsProblem(value, unit.unit);
  if (tooLong !== undefined) throw invalid(name, `the ${key} "${numberText} ${unitText}" ${tooLong}`);
  return { value, unit: unit.unit };
}

/** A plain decimal as BigInt digits and the number of them after the point. */
function decimalParts(text: string): { digits: bigint; scale: number } {
  const [whole = '0', fraction = ''] = text.split('.');
  return { digits: BigInt(`${whole}${fraction}` || '0'), scale: fraction.length };
}

/** digits x 10^exponent as a plain decimal without exponent, every digit kept ("143.0" stays). */
function plainDecimal(digits: bigint, exponent: number): string {
  const text = digits.toString();
  if (exponent >= 0) return text + '0'.repeat(exponent);
  const padded = text.padStart(-exponent + 1, '0');
  const point = padded.length + exponent;
  return `${padded.slice(0, point)}.${padded.slice(point)}`;
}

function invalid(name: string, message: string): InvalidMeasurementsError {
  return new InvalidMeasurementsError(`"${name}": ${message}`);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
