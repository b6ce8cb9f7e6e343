/** The measurement model: any number of named volumes, normalised to millilitres. */

/** Anatomy we can code (finding site); other volumes are kept by name alone. */
export const ANATOMIES = ['right-kidney', 'left-kidney', 'both-kidneys', 'spleen', 'liver'] as const;
/** One of the anatomies we can code. */
export type Anatomy = (typeof ANATOMIES)[number];

/** One named volume. */
export interface Measurement {
  /** Tracking identifier as given by the user, e.g. "Right Kidney". */
  readonly name: string;
  /** The volume in mL as a plain decimal string, with exactly the precision of the input. */
  readonly valueMl: string;
  /** The same volume as a number, for arithmetic and display. */
  readonly volumeMl: number;
  /** Coded anatomy when the name or the input says what was measured. */
  readonly anatomy?: Anatomy;
  /** How it was measured, e.g. "manual contouring", "segmentation". */
  readonly method?: string;
  /** Which program or algorithm produced it. */
  readonly source?: string;
  /** Who measured it. */
  readonly operator?: string;
  /** The DICOM Segmentation it was computed from, when it was. */
  readonly segmentation?: SegmentationReference;
  /** The three diameters the volume was estimated from as an ellipsoid (ultrasound), when it was. */
  readonly diameters?: EllipsoidDiameters;
}

/** Length units a diameter is kept in: the SR writes it in the same UCUM unit (metres arrive as cm). */
export type LengthUnit = 'mm' | 'cm';

/** One diameter as given: the decimal text with exactly the input's precision, and its unit. */
export interface Diameter {
  readonly value: string;
  readonly unit: LengthUnit;
}

/** A kidney's length, width and depth (CID 7470); the volume is pi/6 x L x W x D. */
export interface EllipsoidDiameters {
  readonly length: Diameter;
  readonly width: Diameter;
  readonly depth: Diameter;
}

/** A DICOM Segmentation (SEG) instance and the segments of it a volume counts. */
export interface SegmentationReference {
  readonly seriesInstanceUid: string;
  readonly sopInstanceUid: string;
  /** SegmentNumbers counted (one per kidney; both for the total); empty when not given. */
  readonly segmentNumbers: readonly number[];
}

/** A validated, non-empty set of measurements with unique names. */
export interface MeasurementSet {
  readonly measurements: readonly Measurement[];
  /** sha256 (hex) of the canonical form: equal sets give equal digests, whatever the input form. */
  readonly digest: string;
}
