/**
 * Batch files of attach --batch: CSV with a header, or JSON lines. Every row is parsed and checked
 * before anything is written, so a bad row is known (and reported with its line) up front; a file
 * that cannot be read as a whole (no header, no study column, an unclosed quote) is a UsageError.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse } from 'csv-parse/sync';
import { InvalidMeasurementsError, KidneyVolumesError, UsageError } from '../errors.js';
import { DEFAULT_NAMES } from '../measurements/anatomy.js';
import type { MeasurementSet } from '../measurements/model.js';
import { buildSet, parseMeasurementsJson, parseMeasurementsObject, type MeasurementInput } from '../measurements/parse.js';
import { parseApproaches, type Approach } from '../pipeline/approaches.js';
import { withDefaultUnit } from './measurement-options.js';

/** The two file formats. */
export type BatchFormat = 'csv' | 'jsonl';

/** One row of a batch file: either ready to run, or with the reason it cannot run. */
export interface BatchRow {
  /** Line of the file where the row starts (1-based), for messages. */
  readonly line: number;
  /** Orthanc study ID or StudyInstanceUID as written; empty when the row has none. */
  readonly study: string;
  readonly measurements?: MeasurementSet;
  /** The row's own approaches, when it names them; else the command's --approach. */
  readonly approaches?: readonly Approach[];
  /** Why the row cannot run (bad measurements, no study...); it then fails alone. */
  readonly problem?: KidneyVolumesError;
}

/** A parsed batch file. */
export interface BatchFile {
  readonly path: string;
  readonly format: BatchFormat;
  readonly rows: readonly BatchRow[];
}

/** Largest batch file accepted: far beyond any worklist, small enough to hold in memory. */
const MAX_FILE_BYTES = 32 * 1024 * 1024;
/** CSV columns with a fixed meaning; every other column is a named volume ("<name> dims": its diameters). */
const CSV_RESERVED = ['study', 'right', 'left', 'total', 'measurements', 'approach'] as const;
/** A column named "<name> dims" (or right_dims, Left-Dims...) holds the diameters "<L>x<W>x<D> <unit>" of <name>. */
const DIMS_COLUMN = /^(.+?)[\s_-]+dims$/i;
const JSONL_KEYS = ['study', 'measurements', 'approach'];

/** Reads and parses a batch file ("-" for stdin); the format comes from the extension, else from the first character. */
export function readBatchFile(path: string, readStdin: () => string = () => readFileSync(0, 'utf8')): BatchFile {
  let text: string;
  try {
    text = path === '-' ? readStdin() : readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --batch file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) throw new UsageError(`--batch file ${path} is larger than ${MAX_FILE_BYTES} bytes: split it`);
  text = text.replace(/^\uFEFF/, '');
  const format = formatOf(path, text);
  const rows = format === 'csv' ? csvRows(path, text) : jsonlRows(text);
  if (rows.length === 0) throw new UsageError(`--batch file ${path} holds no rows`);
  return { path, format, rows: conflictingRows(rows) };
}

/**
 * Rows naming the same study with different measurements all fail: which one is meant cannot be
 * told, and running them in file order would let the last one win silently. The same study with the
 * same measurements twice is harmless (the second finds the first's outputs). Studies are compared
 * as written (an Orthanc ID and the StudyInstanceUID of one study are not matched here).
 */
function conflictingRows(rows: readonly BatchRow[]): BatchRow[] {
  const byStudy = new Map<string, BatchRow[]>();
  for (const row of rows) {
    if (row.measurements === undefined || row.study === '') continue;
    const key = row.study.toLowerCase();
    byStudy.set(key, [...(byStudy.get(key) ?? []), row]);
  }
  const conflicts = new Map<BatchRow, KidneyVolumesError>();
  for (const group of byStudy.values()) {
    if (new Set(group.map((r) => r.measurements?.digest)).size < 2) continue;
    const lines = group.map((r) => r.line);
    for (const row of group) {
      const others = lines.filter((l) => l !== row.line).join(', ');
      conflicts.set(row, new InvalidMeasurementsError(`study "${row.study}" is also on line${others.includes(',') ? 's' : ''} ${others} with different measurements; give one row per study`));
    }
  }
  return rows.map((row) => {
    const problem = conflicts.get(row);
    return problem === undefined ? row : { line: row.line, study: row.study, problem };
  });
}

function formatOf(path: string, text: string): BatchFormat {
  const extension = extname(path).toLowerCase();
  if (extension === '.csv') return 'csv';
  if (extension === '.jsonl' || extension === '.ndjson') return 'jsonl';
  return /^\s*\{/.test(text) ? 'jsonl' : 'csv';
}

/** One JSON object per line; blank lines and lines starting with # are skipped. */
function jsonlRows(text: string): BatchRow[] {
  const rows: BatchRow[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) return;
    rows.push(guard(line, '', () => jsonlRow(line, raw)));
  });
  return rows;
}

function jsonlRow(line: number, raw: string): BatchRow {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new UsageError(`not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError('must be a JSON object {"study": …, "measurements": {…}}');
  const record = value as Record<string, unknown>;
  const study = typeof record['study'] === 'string' ? record['study'].trim() : '';
  return guard(line, study, () => {
    const unknownKey = Object.keys(record).find((k) => !JSONL_KEYS.includes(k));
    if (unknownKey !== undefined) throw new UsageError(`unknown key "${unknownKey}"; known: ${JSONL_KEYS.join(', ')}`);
    requireStudy(record['study']);
    if (record['measurements'] === undefined) throw new InvalidMeasurementsError('"measurements" is missing');
    const approach = record['approach'];
    if (approach !== undefined && typeof approach !== 'string') throw new UsageError('"approach" must be a text such as "sr,fhir"');
    return { line, study, measurements: parseMeasurementsObject(record['measurements']), ...approachesOf(approach) };
  });
}

/** A CSV record as csv-parse gives it with info and raw on. */
interface CsvRecord {
  readonly record: string[];
  readonly raw: string;
  readonly info: { readonly lines: number };
}

/** A header row naming the columns, then one row per study; # starts a comment line. */
function csvRows(path: string, text: string): BatchRow[] {
  let records: CsvRecord[];
  try {
    // csv-parse's types do not model info/raw; with both on, each record comes as {record, raw, info}.
    const options = { info: true, raw: true, relax_column_count: true, skip_empty_lines: true, comment: '#', comment_no_infix: true };
    records = parse(text, options) as unknown as CsvRecord[];
  } catch (error) {
    throw new UsageError(`--batch file ${path} is not valid CSV: ${(error as Error).message}`);
  }
  const [header, ...body] = records;
  if (header === undefined) return [];
  const columns = header.record.map((c) => c.trim());
  checkHeader(path, columns);
  return body.map(({ record, raw, info }) => {
    // info.lines is where the record ends; a quoted cell may span lines, and people look for where it starts.
    const line = info.lines - (raw.replace(/\r?\n$/, '').match(/\n/g)?.length ?? 0);
    const cells = new Map(columns.map((name, i) => [name, (record[i] ?? '').trim()] as const));
    const study = cellOf(cells, columns, 'study');
    return guard(line, study, () => {
      if (record.length !== columns.length) throw new UsageError(`has ${record.length} fields, the header has ${columns.length}`);
      requireStudy(study);
      return { line, study, measurements: csvMeasurements(cells, columns), ...approachesOf(cellOf(cells, columns, 'approach') || undefined) };
    });
  });
}

function checkHeader(path: string, columns: readonly string[]): void {
  const seen = new Set<string>();
  for (const column of columns) {
    if (column === '') throw new UsageError(`--batch file ${path}: the header has an empty column name`);
    const key = column.toLowerCase();
    if (seen.has(key)) throw new UsageError(`--batch file ${path}: the header names "${column}" twice`);
    seen.add(key);
  }
  if (!seen.has('study')) {
    throw new UsageError(`--batch file ${path}: the CSV header must have a "study" column (e.g. study,right,left,total), got "${columns.join(',')}"`);
  }
}

/** The cell of a reserved column, matched without regard to case. */
function cellOf(cells: ReadonlyMap<string, string>, columns: readonly string[], name: (typeof CSV_RESERVED)[number]): string {
  const column = columns.find((c) => c.toLowerCase() === name);
  return column === undefined ? '' : cells.get(column) ?? '';
}

function csvMeasurements(cells: ReadonlyMap<string, string>, columns: readonly string[]): MeasurementSet {
  const inputs: MeasurementInput[] = [];
  for (const column of columns) {
    const key = column.toLowerCase();
    const cell = cells.get(column) ?? '';
    if (cell === '' || key === 'study' || key === 'approach' || key === 'measurements') continue;
    const dims = DIMS_COLUMN.exec(column)?.[1];
    if (dims !== undefined) {
      inputs.push({ name: columnName(dims), diameters: cell });
      continue;
    }
    inputs.push({ name: columnName(column), value: withDefaultUnit(cell) });
  }
  const json = cellOf(cells, columns, 'measurements');
  if (json !== '') {
    if (inputs.length > 0) throw new InvalidMeasurementsError('give volumes either in their columns or in the "measurements" column, not both');
    return parseMeasurementsJson(json);
  }
  return buildSet(inputs);
}

/** right, left and total are the default names; any other column is named as written. */
function columnName(column: string): string {
  const key = column.toLowerCase();
  return key === 'right' || key === 'left' || key === 'total' ? DEFAULT_NAMES[key] : column;
}

function requireStudy(study: unknown): void {
  if (typeof study !== 'string' || study.trim() === '') throw new UsageError('no study: give an Orthanc study ID or a StudyInstanceUID');
}

function approachesOf(text: string | undefined): { approaches?: readonly Approach[] } {
  if (text === undefined) return {};
  try {
    return { approaches: parseApproaches(text) };
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^--approach/, 'approach'));
  }
}

/** Runs a row parser; a KidneyVolumesError becomes the row's problem (it fails alone), anything else is a bug. */
function guard(line: number, study: string, parse: () => BatchRow): BatchRow {
  try {
    return parse();
  } catch (error) {
    if (error instanceof KidneyVolumesError) return { line, study, problem: error };
    throw error;
  }
}
