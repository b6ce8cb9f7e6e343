/**
 * The project's errors: one base class with a structured payload, and the one place that maps
 * each kind of error to a CLI exit code and an HTTP status.
 */
import { FhirBundleReadError, FhirInputError, FhirServerError } from './fhir/errors.js';

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

  /** Whether another attempt may succeed; by kind, refined by subclasses that know more (an HTTP status). */
  get transient(): boolean {
    return TRANSIENT_KINDS.has(this.kind);
  }
}

/** Kinds that are transient whatever the details: the other side was away or busy. */
const TRANSIENT_KINDS: ReadonlySet<ErrorKind> = new Set(['orthanc-unreachable', 'delivery']);

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
  /** `retryable` is false for faults another attempt cannot fix (an untrusted TLS certificate). */
  constructor(readonly url: string, readonly reason: string, private readonly retryable = true) {
    super('orthanc-unreachable', `cannot connect to Orthanc at ${url} (${reason})`, { url, reason });
  }

  override get transient(): boolean {
    return this.retryable;
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

  /**
   * Set when this answer came to a repeat of the request, sent after the first one's connection
   * was reset: the first may have landed, so a 409 may be Orthanc refusing our own write twice.
   */
  afterResend = false;

  override get transient(): boolean {
    return transientHttpStatus(this.status);
  }
}

/**
 * A complete answer from Orthanc's address that cannot be read (a compressed body that does not
 * decompress): permanent, since another attempt receives the same bytes.
 */
export class OrthancCorruptAnswerError extends KidneyVolumesError {
  constructor(readonly method: string, readonly path: string, readonly status: number, message: string) {
    super('orthanc-http', message, { method, path, status });
  }
}

/**
 * Somebody else wrote first (a compare-and-set lost, a lease taken over): another attempt reads
 * the new state and decides again, so it is transient, unlike other conflicts (an SR with our
 * UID but other content), which stay until a person acts.
 */
export class RaceLostError extends KidneyVolumesError {
  /** Makes the error; the message says what changed under us. */
  constructor(message: string, details: Readonly<Record<string, unknown>> = {}) {
    super('conflict', message, details);
    this.name = 'RaceLostError';
  }

  override get transient(): boolean {
    return true;
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

/**
 * How a failure is handled, decided here and nowhere else: `transient` faults (connection refused
 * or reset, timeouts, 5xx, 409, a lost race) are retried; `permanent` ones (bad input or data,
 * not found, refused credentials, a 4xx) fail at the first attempt with their own message; a `bug`
 * (anything the code did not expect: a TypeError, a plain Error) fails at once, is logged with its
 * stack, and is never retried, since running the same code again gives the same result.
 */
export type FailureClass = 'transient' | 'permanent' | 'bug';

/** Network errors Node reports by code that another attempt may get past. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EBUSY',
  'EAGAIN',
  'EMFILE',
  'ENFILE',
  'ENOSPC',
]);

/** File-system errors a person must fix (a folder missing or not writable). */
const PERMANENT_CODES: ReadonlySet<string> = new Set(['EACCES', 'EPERM', 'ENOENT', 'ENOTDIR', 'EISDIR', 'EROFS', 'EEXIST']);

/** True for HTTP statuses worth another attempt: 408 timeout, 409 conflict, 425/429 too early or many, and 5xx. */
export function transientHttpStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 425 || status === 429 || status >= 500;
}

/** The class of any thrown value; see FailureClass. */
export function failureClass(error: unknown): FailureClass {
  if (error instanceof KidneyVolumesError) return error.transient ? 'transient' : 'permanent';
  if (error instanceof FhirServerError) return error.status === undefined || transientHttpStatus(error.status) ? 'transient' : 'permanent';
  // The FHIR writer and reader refuse their input with typed errors of their own.
  if (error instanceof FhirInputError || error instanceof FhirBundleReadError) return 'permanent';
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return 'transient';
  if (typeof code === 'string' && PERMANENT_CODES.has(code)) return 'permanent';
  return 'bug';
}
