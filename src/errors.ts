/**
 * The project's errors: one base class with a structured payload, and the one place that maps
 * each kind of error to a CLI exit code and an HTTP status.
 */
import { FhirServerError } from './fhir/errors.js';

/** Kinds of failure a user can act on differently. */
export type ErrorKind =
  | 'usage'
  | 'config'
  | 'invalid-measurements'
  | 'orthanc-unreachable'
  | 'orthanc-auth'
  | 'not-found'
  | 'orthanc-http'
  | 'not-available'
  | 'conflict'
  | 'fhir-server'
  | 'delivery'
  | 'delivery-rejected'
  | 'ambiguous-study'
  | 'study-data'
  | 'internal';

/** An error with a kind and the data that explains it. Messages name the rule and the bad value. */
export class KidneyVolumesError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'KidneyVolumesError';
  }
}

/** A wrong command line. */
export class UsageError extends KidneyVolumesError {
  constructor(message: string) {
    super('usage', message);
  }
}

/** A wrong configuration value, found at start-up. */
export class ConfigError extends KidneyVolumesError {
  constructor(readonly variable: string, message: string) {
    super('config', message, { variable });
  }
}

/** Measurements that cannot be accepted; the message quotes the bad part. */
export class InvalidMeasurementsError extends KidneyVolumesError {
  constructor(message: string) {
    super('invalid-measurements', message);
  }
}

/** Orthanc could not be reached at all. */
export class OrthancUnreachableError extends KidneyVolumesError {
  constructor(readonly url: string, readonly reason: string) {
    super('orthanc-unreachable', `cannot connect to Orthanc at ${url} (${reason})`, { url, reason });
  }
}

/** Orthanc answered with an HTTP error. */
export class OrthancHttpError extends KidneyVolumesError {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
    message: string,
  ) {
    super(status === 401 || status === 403 ? 'orthanc-auth' : status === 404 ? 'not-found' : status === 409 ? 'conflict' : 'orthanc-http', message, {
      method,
      path,
      status,
    });
  }
}

/** A study, series or instance the user named does not exist in Orthanc. */
export class NotFoundError extends KidneyVolumesError {
  constructor(readonly what: string, readonly id: string) {
    super('not-found', `${what} ${id} not found in Orthanc`, { what, id });
  }
}

/** One study of a StudyInstanceUID as Orthanc keeps it (Orthanc files a study by PatientID and StudyInstanceUID). */
export interface StudyCandidate {
  readonly orthancId: string;
  readonly patientId: string;
}

/**
 * A StudyInstanceUID that Orthanc holds under several PatientIDs (an ID corrected and re-sent):
 * taking either would risk the wrong patient, so the user must name the Orthanc study ID.
 */
export class AmbiguousStudyError extends KidneyVolumesError {
  constructor(readonly studyInstanceUid: string, readonly candidates: readonly StudyCandidate[]) {
    super(
      'ambiguous-study',
      `StudyInstanceUID ${studyInstanceUid} is ambiguous: Orthanc holds ${candidates.length} studies with it, ` +
        candidates.map((c) => `${c.orthancId} (PatientID "${c.patientId}")`).join(' and ') +
        '; give the Orthanc study ID of the right patient instead. Nothing was written.',
      { studyInstanceUid, candidates },
    );
  }
}

/**
 * The study's own data does not allow an output (no image series to copy the private tags into,
 * an empty PatientID for a FHIR Patient): permanent until the study changes, never retried.
 */
export class StudyDataError extends KidneyVolumesError {
  constructor(message: string, details: Readonly<Record<string, unknown>> = {}) {
    super('study-data', message, details);
  }
}

/** A feature that is not built yet: said plainly, never pretended. */
export class NotAvailableError extends KidneyVolumesError {
  constructor(message: string) {
    super('not-available', message);
  }
}

/** Exit codes of the CLI, documented in the README. */
export const EXIT_CODES = {
  ok: 0,
  internal: 1,
  usage: 2,
  config: 3,
  'orthanc-unreachable': 4,
  'orthanc-auth': 5,
  'not-found': 6,
  'invalid-measurements': 7,
  'orthanc-http': 8,
  'not-available': 9,
  conflict: 10,
  'fhir-server': 11,
  // An outcome, not an error kind: attach --batch ran every row it could and some failed.
  'batch-failed': 12,
  delivery: 13,
  'delivery-rejected': 14,
  'ambiguous-study': 15,
  'study-data': 16,
  // An outcome, not an error kind: verify found an output missing or incomplete.
  'verify-incomplete': 17,
} as const satisfies Record<ErrorKind | 'ok' | 'batch-failed' | 'verify-incomplete', number>;

const HTTP_STATUS: Record<ErrorKind, number> = {
  usage: 400,
  config: 500,
  'invalid-measurements': 422,
  'orthanc-unreachable': 502,
  'orthanc-auth': 502,
  'not-found': 404,
  'orthanc-http': 502,
  'not-available': 501,
  conflict: 409,
  'fhir-server': 502,
  delivery: 502,
  'delivery-rejected': 502,
  'ambiguous-study': 409,
  'study-data': 422,
  internal: 500,
};

/** The kind of any thrown value (unknown errors are internal). */
export function errorKind(error: unknown): ErrorKind {
  if (error instanceof KidneyVolumesError) return error.kind;
  // Mapped here rather than subclassed: src/fhir stays free of the pipeline's error hierarchy.
  if (error instanceof FhirServerError) return 'fhir-server';
  return 'internal';
}

/** The CLI exit code for a thrown value. */
export function exitCodeFor(error: unknown): number {
  return EXIT_CODES[errorKind(error)];
}

/** The HTTP status the API answers for a thrown value. */
export function httpStatusFor(error: unknown): number {
  return HTTP_STATUS[errorKind(error)];
}

/** The message of any thrown value. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
