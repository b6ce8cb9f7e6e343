/** What the deliveries (issue 9) send where: checked settings, filled from the configuration. */

/** The deliveries, in the order they run after the writer steps. */
export const DELIVERIES = ['forward', 'dicomweb', 'hl7'] as const;
/** One delivery: `forward` (C-STORE to DICOM archives through Orthanc), `dicomweb` (STOW-RS by the sidecar) or `hl7` (ORU^R01 results). */
export type Delivery = (typeof DELIVERIES)[number];

/** Forwarding the written DICOM objects to modalities declared in Orthanc's DicomModalities. */
export interface ForwardSettings {
  /** Orthanc's symbolic names of the destination modalities, e.g. ["PACS1", "PACS2"]. */
  readonly modalities: readonly string[];
  /** Also send the derived series carrying the private tags (not just the SR). */
  readonly derived: boolean;
  /** HTTP timeout of one synchronous store (Orthanc answers only when the C-STORE is over). */
  readonly timeoutMs: number;
}

/** One side of an HL7 exchange: the namespace IDs of its application and facility HDs (MSH-3/4 or MSH-5/6). */
export interface Hl7Party {
  readonly application: string;
  readonly facility: string;
}

/** An MLLP destination. */
export interface MllpTarget {
  readonly host: string;
  readonly port: number;
}

/** HL7 v2 ORU^R01 results: to a folder, over MLLP, or both. */
export interface Hl7Settings {
  /** Folder receiving one file per message: per study and version of its measurements. */
  readonly dir?: string;
  readonly mllp?: MllpTarget;
  /** How long to wait for the connection and the ACK of one message. */
  readonly timeoutMs: number;
  /** MSH-3/MSH-4. */
  readonly sender: Hl7Party;
  /** MSH-5/MSH-6. */
  readonly receiver: Hl7Party;
}

/** One DICOMweb archive that receives the results over STOW-RS. */
export interface DicomwebDestination {
  /** A name for logs and the status, e.g. "archive". */
  readonly name: string;
  /** The DICOMweb base URL; STOW-RS posts to {url}/studies. */
  readonly url: string;
  /** HTTP Basic credentials, or a bearer token (not both). */
  readonly username?: string;
  readonly password?: string;
  readonly token?: string;
  /** Also send the derived series carrying the private tags (not just the SR). */
  readonly derived: boolean;
  readonly timeoutMs: number;
}

/** Every delivery's settings; a delivery without settings is not run. */
export interface DeliverySettings {
  readonly forward?: ForwardSettings;
  readonly dicomweb?: readonly DicomwebDestination[];
  readonly hl7?: Hl7Settings;
  /** Attempts per destination before the delivery fails (1 = no retry). */
  readonly attempts: number;
  /** Delay before the second attempt; it doubles for each next one. */
  readonly retryBaseMs: number;
}
