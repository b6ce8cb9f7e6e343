/** Typed errors of the FHIR writer, reader and transaction poster; each carries the data a caller needs. */

/** A study fact or measurement the FHIR writer cannot turn into a valid resource. */
export class FhirInputError extends Error {
  override readonly name = 'FhirInputError';
  /** Which input was wrong, e.g. "studyDate". */
  readonly field: string;
  /** The offending value as given. */
  readonly value: string;

  constructor(field: string, value: string, rule: string) {
    super(`${field} ${rule}, got "${value}"`);
    this.field = field;
    this.value = value;
  }
}

/** A stored Bundle that is not what `buildKidneyVolumeBundle` writes. */
export class FhirBundleReadError extends Error {
  override readonly name = 'FhirBundleReadError';
}

/** A FHIR server that refused the transaction, answered something unexpected, or could not be reached. */
export class FhirServerError extends Error {
  override readonly name = 'FhirServerError';
  /** HTTP status, or undefined when no HTTP answer came (timeout, connection refused). */
  readonly status: number | undefined;
  /** The URL posted to. */
  readonly url: string;
  /** The server's OperationOutcome diagnostics/details text, or the raw body when it sent no OperationOutcome. */
  readonly outcomeText: string;

  constructor(args: { status: number | undefined; url: string; outcomeText: string; message: string; cause?: unknown }) {
    super(args.message, args.cause === undefined ? undefined : { cause: args.cause });
    this.status = args.status;
    this.url = args.url;
    this.outcomeText = args.outcomeText;
  }
}
