/** The one error type of the private-tag writer: bytes it cannot parse, or a copy it cannot make safely. */
import { KidneyVolumesError, type ErrorKind } from '../../errors.js';

/** A DICOM file the byte-level reader cannot follow; says where and what it found. */
export class Part10FormatError extends KidneyVolumesError {
  constructor(message: string, readonly offset: number) {
    super('internal', `${message} (at byte ${offset})`, { offset });
    this.name = 'Part10FormatError';
  }
}

/** A derived copy that cannot be made or does not verify; carries the series and instance it concerns. */
export class PrivateTagsError extends KidneyVolumesError {
  constructor(message: string, details: Readonly<Record<string, unknown>> = {}, kind: ErrorKind = 'internal') {
    super(kind, message, details);
    this.name = 'PrivateTagsError';
  }
}
