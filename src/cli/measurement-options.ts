/** Turns attach's flags (--right, --left, --total, --measure, their -dims forms, --from-json) into one MeasurementSet. */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { InvalidMeasurementsError, UsageError } from '../errors.js';
import { DEFAULT_NAMES } from '../measurements/anatomy.js';
import type { MeasurementSet } from '../measurements/model.js';
import { buildSet, MAX_PAYLOAD_BYTES, parseMeasurementsJson, parseNamedValue, type MeasurementInput } from '../measurements/parse.js';

/** The measurement flags of attach, as commander gives them. */
export interface MeasurementOptions {
  readonly right?: string;
  readonly left?: string;
  readonly total?: string;
  readonly measure?: readonly string[];
  /** Diameters "<L>x<W>x<D> <unit>" of the right and left kidney, and of named volumes ("Spleen=11x5x4 cm"). */
  readonly rightDims?: string;
  readonly leftDims?: string;
  readonly measureDims?: readonly string[];
  readonly fromJson?: string;
}

/** Builds the set; --from-json may not be mixed with the other flags. */
export function measurementsFromOptions(options: MeasurementOptions, readStdin: () => string = () => readFileSync(0, 'utf8')): MeasurementSet {
  const flags: MeasurementInput[] = [];
  for (const key of ['right', 'left', 'total'] as const) {
    const value = options[key];
    if (value !== undefined) flags.push({ name: DEFAULT_NAMES[key], value: withDefaultUnit(value) });
  }
  for (const text of options.measure ?? []) {
    const named = parseNamedValue(text);
    flags.push({ ...named, value: withDefaultUnit(named.value) });
  }
  for (const key of ['right', 'left'] as const) {
    const dims = options[`${key}Dims`];
    if (dims === undefined) continue;
    if (options[key] !== undefined) throw new UsageError(`--${key} and --${key}-dims both give the ${key} kidney; give its volume or its diameters`);
    flags.push({ name: DEFAULT_NAMES[key], diameters: dims });
  }
  for (const text of options.measureDims ?? []) {
    const { name, value } = parseNamedValue(text, '--measure-dims', '"<name>=<L>x<W>x<D> <unit>"');
    flags.push({ name, diameters: value });
  }
  if (options.fromJson !== undefined) {
    if (flags.length > 0) throw new UsageError('--from-json cannot be combined with --right, --left, --total, --measure or their -dims forms');
    return parseMeasurementsJson(readJsonSource(options.fromJson, readStdin));
  }
  if (flags.length === 0) {
    throw new UsageError('no measurements given: use --right/--left/--total <mL>, --measure "<name>=<value> <unit>", --right-dims/--left-dims <L>x<W>x<D><unit> or --from-json <file|->');
  }
  return buildSet(flags);
}

/**
 * A commander argument parser for a flag that may be given once: `--right 125 --right 130` is a
 * usage error (exit 2) instead of the last value silently winning.
 */
export function once(flag: string): (value: string, previous: string | undefined) => string {
  return (value, previous) => {
    if (previous !== undefined) throw new InvalidArgumentError(`${flag} is given twice ("${previous}" and "${value}"); give it once`);
    return value;
  };
}

/** --right 125 means 125 mL; --right "0.125 L" keeps its unit. */
export function withDefaultUnit(value: string): string {
  return /^\s*-?[\d.]+\s*$/.test(value) ? `${value.trim()} mL` : value;
}

function readJsonSource(source: string, readStdin: () => string): string {
  if (source === '-') return readStdin();
  try {
    const text = readFileSync(source, 'utf8');
    if (Buffer.byteLength(text) > MAX_PAYLOAD_BYTES) {
      throw new InvalidMeasurementsError(`measurements must be at most ${MAX_PAYLOAD_BYTES} bytes, got ${Buffer.byteLength(text)} in ${source}`);
    }
    return text;
  } catch (error) {
    if (error instanceof InvalidMeasurementsError) throw error;
    throw new UsageError(`cannot read --from-json file ${source}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
