/**
 * Measurement input in every accepted form, checked and normalised to one MeasurementSet.
 * Forms: the original tool's map {"Right Kidney": "125 ml"} (or, for ultrasound, the diameters
 * {"Right Kidney": {"length": "11.2 cm", "width": "5.1 cm", "depth": "4.8 cm"}}), and the structured form
 * {"measurements": [{"name", "value" | "diameters", "unit", "anatomy"?, "method"?, "source"?, "operator"?, "segments"?}],
 *  "segmentation"?: {"seriesInstanceUid", "sopInstanceUid"}} (the SEG the volumes were computed from).
 */
import { createHash } from 'node:crypto';
import { isDicomUid } from '../uids.js';
import { InvalidMeasurementsError } from '../errors.js';
import { anatomyForName, normaliseName } from './anatomy.js';
import { DIAMETER_KEYS, ellipsoidVolumeMl, parseDiameters } from './diameters.js';
import { ANATOMIES, type Anatomy, type EllipsoidDiameters, type Measurement, type MeasurementSet, type SegmentationReference } from './model.js';
import { ACCEPTED_UNITS, dsProblem, isDecimal, shiftDecimal, unitScale } from './units.js';

/** Largest accepted payload, in bytes of UTF-8. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** Largest plausible volume of one measurement, in mL. */
export const MAX_VOLUME_ML = 5000;
/** Most measurements in one set: what the private-tag block has room for (src/dicom/private-tags/README.md). */
export const MAX_MEASUREMENTS = 48;
/** Longest name: it must fit "<name>: <value> ml" into a 64-character LO private tag. */
export const MAX_NAME_LENGTH = 40;
const MAX_TEXT_LENGTH = 64;

/** One measurement as given, before checking: value and unit may come separately or as "125 ml". */
export interface MeasurementInput {
  readonly name: string;
  /** A volume; in the map form an object here is the diameters. */
  readonly value?: unknown;
  /** Length, width and depth: "11.2x5.1x4.8 cm" or {"length", "width", "depth"}; the volume is then their ellipsoid. */
  readonly diameters?: unknown;
  readonly unit?: unknown;
  readonly anatomy?: unknown;
  readonly method?: unknown;
  readonly source?: unknown;
  readonly operator?: unknown;
  /** SegmentNumbers of the SEG named by the set's "segmentation" key (structured form only). */
  readonly segments?: unknown;
  /** The SEG the set was computed from, from the structured form's "segmentation" key. */
  readonly segmentation?: Omit<SegmentationReference, 'segmentNumbers'>;
}

/** Parses JSON text in either form. */
export function parseMeasurementsJson(text: string): MeasurementSet {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_PAYLOAD_BYTES) {
    throw new InvalidMeasurementsError(`measurements must be at most ${MAX_PAYLOAD_BYTES} bytes, got ${bytes}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidMeasurementsError(`measurements are not valid JSON: ${(error as Error).message}`);
  }
  return parseMeasurementsObject(parsed);
}

/** Parses an already decoded JSON value in either form. */
export function parseMeasurementsObject(value: unknown): MeasurementSet {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidMeasurementsError(`measurements must be a JSON object, got ${describe(value)}`);
  }
  const record = value as Record<string, unknown>;
  if (Array.isArray(record['measurements'])) {
    const extra = Object.keys(record).filter((k) => k !== 'measurements' && k !== 'segmentation');
    if (extra.length > 0) throw new InvalidMeasurementsError(`unknown key "${extra[0]}" beside "measurements"`);
    const segmentation = record['segmentation'] === undefined ? undefined : segmentationKey(record['segmentation']);
    return buildSet(record['measurements'].map((e, i) => ({ ...structuredEntry(e, i), ...(segmentation ? { segmentation } : {}) })));
  }
  return buildSet(Object.entries(record).map(([name, v]) => ({ name, value: v })));
}

/** Checks a list of inputs (from CLI flags, or either JSON form) and builds the set. */
export function buildSet(inputs: readonly MeasurementInput[]): MeasurementSet {
  if (inputs.length === 0) throw new InvalidMeasurementsError('no measurements given: give at least one volume');
  if (inputs.length > MAX_MEASUREMENTS) {
    throw new InvalidMeasurementsError(`at most ${MAX_MEASUREMENTS} measurements, got ${inputs.length}`);
  }
  const measurements = inputs.map(checkMeasurement);
  const seenNames = new Map<string, string>();
  const seenAnatomy = new Map<Anatomy, string>();
  for (const m of measurements) {
    const key = normaliseName(m.name);
    const earlier = seenNames.get(key);
    if (earlier !== undefined) throw new InvalidMeasurementsError(`"${m.name}" is given twice (also as "${earlier}")`);
    seenNames.set(key, m.name);
    if (m.anatomy) {
      const other = seenAnatomy.get(m.anatomy);
      if (other !== undefined) {
        throw new InvalidMeasurementsError(`"${m.name}" and "${other}" both measure ${m.anatomy}; give one`);
      }
      seenAnatomy.set(m.anatomy, m.name);
    }
  }
  const ordered = [...measurements].sort((a, b) => rank(a) - rank(b));
  return { measurements: ordered, digest: digestOf(ordered) };
}

/** Parses "Spleen=180 ml" as given to --measure (and "Spleen=11x5x4 cm" to --measure-dims). */
export function parseNamedValue(text: string, flag = '--measure', form = '"<name>=<value> <unit>"'): MeasurementInput & { value: string } {
  const at = text.indexOf('=');
  if (at <= 0) throw new InvalidMeasurementsError(`${flag} needs ${form}, got "${text}"`);
  return { name: text.slice(0, at).trim(), value: text.slice(at + 1).trim() };
}

function structuredEntry(entry: unknown, index: number): MeasurementInput {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new InvalidMeasurementsError(`measurements[${index}] must be an object, got ${describe(entry)}`);
  }
  const e = entry as Record<string, unknown>;
  const known = ['name', 'value', 'diameters', 'unit', 'anatomy', 'method', 'source', 'operator', 'segments'];
  const unknownKey = Object.keys(e).find((k) => !known.includes(k));
  if (unknownKey) throw new InvalidMeasurementsError(`measurements[${index}] has unknown key "${unknownKey}"; known: ${known.join(', ')}`);
  if (typeof e['name'] !== 'string') throw new InvalidMeasurementsError(`measurements[${index}].name must be a string, got ${describe(e['name'])}`);
  return { ...e, name: e['name'], value: e['value'] };
}

/** The diameters when the input gives them (a "diameters" key, or an object as the map form's value). */
function diametersOf(name: string, input: MeasurementInput): EllipsoidDiameters | undefined {
  const inValue = typeof input.value === 'object' && input.value !== null && !Array.isArray(input.value);
  if (input.diameters === undefined && !inValue) return undefined;
  if (input.diameters !== undefined && input.value !== undefined) {
    throw new InvalidMeasurementsError(`"${name}": give either a volume or the diameters (${DIAMETER_KEYS.join(', ')}), not both`);
  }
  if (input.unit !== undefined) throw new InvalidMeasurementsError(`"${name}": "unit" belongs to a volume; diameters carry their own units`);
  return parseDiameters(name, input.diameters ?? input.value);
}

function checkMeasurement(input: MeasurementInput): Measurement {
  const name = input.name.trim();
  if (name.length === 0) throw new InvalidMeasurementsError('a measurement name is empty');
  if (name.length > MAX_NAME_LENGTH) {
    throw new InvalidMeasurementsError(`name "${name}" is longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (/[\\\u0000-\u001f\u007f]/.test(name)) {
    throw new InvalidMeasurementsError(`name "${JSON.stringify(name).slice(1, -1)}" holds a backslash or control character`);
  }
  const diameters = diametersOf(name, input);
  const valueMl = diameters ? checkEstimate(name, diameters) : checkVolume(name, input.value, input.unit);
  const anatomy = input.anatomy === undefined ? anatomyForName(name) : checkAnatomy(name, input.anatomy);
  return {
    name,
    valueMl,
    volumeMl: Number(valueMl),
    ...(anatomy ? { anatomy } : {}),
    ...optionalText(name, 'method', input.method),
    ...optionalText(name, 'source', input.source),
    ...optionalText(name, 'operator', input.operator),
    ...(input.segmentation || input.segments !== undefined ? { segmentation: segmentationOf(name, input) } : {}),
    ...(diameters ? { diameters } : {}),
  };
}

/** The ellipsoid estimate, held to the limits of a volume given directly. */
function checkEstimate(name: string, diameters: EllipsoidDiameters): string {
  const valueMl = ellipsoidVolumeMl(diameters);
  if (Number(valueMl) > MAX_VOLUME_ML) {
    throw new InvalidMeasurementsError(`"${name}": the ellipsoid volume of these diameters is ${valueMl} mL, more than ${MAX_VOLUME_ML} mL`);
  }
  const tooLong = dsProblem(valueMl);
  if (tooLong !== undefined) throw new InvalidMeasurementsError(`"${name}": the ellipsoid volume ${tooLong}`);
  return valueMl;
}

/** The structured form's "segmentation": {"seriesInstanceUid", "sopInstanceUid"} of the SEG the volumes came from. */
function segmentationKey(value: unknown): Omit<SegmentationReference, 'segmentNumbers'> {
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const uid = (key: string): string => {
    const text = v[key];
    if (typeof text !== 'string' || !isDicomUid(text)) {
      throw new InvalidMeasurementsError(`segmentation.${key} must be a DICOM UID, got ${describe(text)}`);
    }
    return text;
  };
  return { seriesInstanceUid: uid('seriesInstanceUid'), sopInstanceUid: uid('sopInstanceUid') };
}

function segmentationOf(name: string, input: MeasurementInput): SegmentationReference {
  if (!input.segmentation) throw new InvalidMeasurementsError(`"${name}": segments need a "segmentation" key beside "measurements"`);
  return { ...input.segmentation, segmentNumbers: segmentNumbers(name, input.segments) };
}

function segmentNumbers(name: string, value: unknown): number[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((n) => Number.isInteger(n) && n >= 1 && n <= 65535)) {
    throw new InvalidMeasurementsError(`"${name}": segments must be a list of segment numbers (1 to 65535), got ${describe(value)}`);
  }
  return value as number[];
}

function checkVolume(name: string, value: unknown, unit: unknown): string {
  let numberText: string;
  let unitText: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidMeasurementsError(`"${name}": volume must be finite, got ${value}`);
    numberText = decimalFromNumber(value);
    unitText = unit === undefined ? 'mL' : checkUnitType(name, unit);
  } else if (typeof value === 'string') {
    const match = /^\s*([^\s]*?)\s*([A-Za-z][A-Za-z0-9]*)?\s*$/.exec(value);
    const inlineUnit = match?.[2];
    if (inlineUnit !== undefined && unit !== undefined) {
      throw new InvalidMeasurementsError(`"${name}": unit given twice ("${value}" and unit "${String(unit)}")`);
    }
    numberText = match?.[1] ?? value;
    if (numberText === '') throw new InvalidMeasurementsError(`"${name}": volume must be a number, got "${value.trim()}"`);
    if (inlineUnit === undefined && unit === undefined) {
      throw new InvalidMeasurementsError(`"${name}": volume "${value}" has no unit; write e.g. "${value.trim()} ml"`);
    }
    unitText = inlineUnit ?? checkUnitType(name, unit);
  } else {
    throw new InvalidMeasurementsError(`"${name}": volume must be a number or a text such as "125 ml", got ${describe(value)}`);
  }
  const scale = unitScale(unitText);
  if (scale === undefined) {
    throw new InvalidMeasurementsError(`"${name}": unknown unit "${unitText}"; use one of ${ACCEPTED_UNITS.join(', ')}`);
  }
  const negative = numberText.startsWith('-');
  if (!isDecimal(negative ? numberText.slice(1) : numberText)) {
    throw new InvalidMeasurementsError(`"${name}": volume must be a number, got "${numberText}"`);
  }
  if (negative) throw new InvalidMeasurementsError(`"${name}": volume must be positive, got "${numberText} ${unitText}"`);
  const valueMl = shiftDecimal(numberText, scale);
  const ml = Number(valueMl);
  if (ml === 0) throw new InvalidMeasurementsError(`"${name}": volume must be positive, got "${numberText} ${unitText}"`);
  if (ml > MAX_VOLUME_ML) {
    throw new InvalidMeasurementsError(`"${name}": volume must be at most ${MAX_VOLUME_ML} mL, got "${numberText} ${unitText}" (${valueMl} mL)`);
  }
  // Refused here, not by the SR writer later: the value is written as a DS, which cannot hold more.
  const tooLong = dsProblem(valueMl);
  if (tooLong !== undefined) throw new InvalidMeasurementsError(`"${name}": volume "${numberText} ${unitText}" ${tooLong}`);
  return valueMl;
}

function checkUnitType(name: string, unit: unknown): string {
  if (typeof unit !== 'string') throw new InvalidMeasurementsError(`"${name}": unit must be a string, got ${describe(unit)}`);
  return unit.trim();
}

function checkAnatomy(name: string, anatomy: unknown): Anatomy {
  if (typeof anatomy === 'string' && (ANATOMIES as readonly string[]).includes(anatomy)) return anatomy as Anatomy;
  throw new InvalidMeasurementsError(`"${name}": anatomy must be one of ${ANATOMIES.join(', ')}, got ${describe(anatomy)}`);
}

function optionalText(name: string, key: 'method' | 'source' | 'operator', value: unknown): Partial<Record<typeof key, string>> {
  if (value === undefined) return {};
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_TEXT_LENGTH || /[\\\u0000-\u001f]/.test(value)) {
    throw new InvalidMeasurementsError(`"${name}": ${key} must be a text of 1 to ${MAX_TEXT_LENGTH} characters without backslashes, got ${describe(value)}`);
  }
  return { [key]: value.trim() };
}

function decimalFromNumber(value: number): string {
  const text = String(value);
  // String() uses exponents for very small or large numbers; those are out of range anyway.
  return /e/i.test(text) ? value.toFixed(20).replace(/\.?0+$/, '') : text;
}

const ANATOMY_ORDER: readonly (Anatomy | undefined)[] = ['right-kidney', 'left-kidney', 'both-kidneys'];

function rank(m: Measurement): number {
  const i = ANATOMY_ORDER.indexOf(m.anatomy);
  return i >= 0 ? i : ANATOMY_ORDER.length;
}

/** The digest of a pending mark's text, or undefined when the text is not valid measurements. */
export function markDigest(text: string): string | undefined {
  try {
    return parseMeasurementsJson(text).digest;
  } catch {
    return undefined;
  }
}

/**
 * The digest a status records for a pending mark's text: its measurements' digest, or the sha256 of
 * the raw text when it is invalid (so a failure is recorded once per distinct input).
 */
export function recordedDigest(text: string): string {
  return markDigest(text) ?? createHash('sha256').update(text).digest('hex');
}

function digestOf(measurements: readonly Measurement[]): string {
  // Sorted by name so that the same volumes given in another order have the same digest.
  const canonical = measurements
    // The SEG is appended only when there is one, so digests of sets without one stay what they were.
    .map((m) => [m.name, m.valueMl, m.anatomy ?? '', m.method ?? '', m.source ?? '', m.operator ?? '', ...segmentationDigestPart(m), ...diametersDigestPart(m)])
    .sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

/** Appended only for diameters, like the SEG, so digests of volumes given directly stay what they were. */
function diametersDigestPart(m: Measurement): string[] {
  const d = m.diameters;
  return d ? ['ellipsoid', ...DIAMETER_KEYS.flatMap((k) => [d[k].value, d[k].unit])] : [];
}

function segmentationDigestPart(m: Measurement): string[] {
  const s = m.segmentation;
  return s ? [s.seriesInstanceUid, s.sopInstanceUid, s.segmentNumbers.join(',')] : [];
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
