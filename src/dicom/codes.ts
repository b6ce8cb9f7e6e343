/**
 * Coded concepts used by the project, each defined once (PS3.3 section 8.8, Code Sequence Macro).
 * Writers (SR, FHIR) take codes from here; no code literal lives anywhere else.
 */

/** Coding scheme designators we use, as DICOM writes them (PS3.16 section 8). */
export type CodingScheme = 'DCM' | 'SCT' | 'UCUM' | 'LN' | 'RFC5646' | 'DCMUID';

/** A checked coded concept: value, scheme designator, meaning. */
export interface CodedConcept {
  readonly value: string;
  readonly scheme: CodingScheme;
  readonly meaning: string;
}

/** Makes a coded concept, refusing values a validator would reject. */
export function codedConcept(value: string, scheme: CodingScheme, meaning: string): CodedConcept {
  if (value.length === 0 || value.length > 16) {
    throw new Error(`code value must be 1 to 16 characters (SH), got "${value}"`);
  }
  if (meaning.length === 0 || meaning.length > 64) {
    throw new Error(`code meaning must be 1 to 64 characters (LO), got "${meaning}"`);
  }
  if (scheme === 'SCT' && !/^\d+$/.test(value)) {
    throw new Error(`SNOMED CT concept ids are digits, got "${value}"`);
  }
  return Object.freeze({ value, scheme, meaning });
}

/** DICOM Controlled Terminology (PS3.16 Annex D). */
export const DCM = {
  ImagingMeasurementReport: codedConcept('126000', 'DCM', 'Imaging Measurement Report'),
  LanguageOfContentItemAndDescendants: codedConcept('121049', 'DCM', 'Language of Content Item and Descendants'),
  ObserverType: codedConcept('121005', 'DCM', 'Observer Type'),
  Device: codedConcept('121007', 'DCM', 'Device'),
  DeviceObserverUID: codedConcept('121012', 'DCM', 'Device Observer UID'),
  DeviceObserverName: codedConcept('121013', 'DCM', 'Device Observer Name'),
  DeviceObserverManufacturer: codedConcept('121014', 'DCM', 'Device Observer Manufacturer'),
  DeviceObserverModelName: codedConcept('121015', 'DCM', 'Device Observer Model Name'),
  Person: codedConcept('121006', 'DCM', 'Person'),
  PersonObserverName: codedConcept('121008', 'DCM', 'Person Observer Name'),
  ProcedureReported: codedConcept('121058', 'DCM', 'Procedure reported'),
  ImageLibrary: codedConcept('111028', 'DCM', 'Image Library'),
  ImagingMeasurements: codedConcept('126010', 'DCM', 'Imaging Measurements'),
  MeasurementGroup: codedConcept('125007', 'DCM', 'Measurement Group'),
  TrackingIdentifier: codedConcept('112039', 'DCM', 'Tracking Identifier'),
  TrackingUniqueIdentifier: codedConcept('112040', 'DCM', 'Tracking Unique Identifier'),
} as const;

/** SNOMED CT concepts (checked against DOMAIN.md; 7771000 is the laterality Left, not the left kidney). */
export const SCT = {
  Volume: codedConcept('118565006', 'SCT', 'Volume'),
  FindingSite: codedConcept('363698007', 'SCT', 'Finding Site'),
  Laterality: codedConcept('272741003', 'SCT', 'Laterality'),
  RightKidney: codedConcept('9846003', 'SCT', 'Right kidney structure'),
  LeftKidney: codedConcept('18639004', 'SCT', 'Left kidney structure'),
  Kidney: codedConcept('64033007', 'SCT', 'Kidney'),
  Right: codedConcept('24028007', 'SCT', 'Right'),
  Left: codedConcept('7771000', 'SCT', 'Left'),
  Bilateral: codedConcept('51440002', 'SCT', 'Bilateral'),
  Spleen: codedConcept('78961009', 'SCT', 'Spleen'),
  Liver: codedConcept('10200004', 'SCT', 'Liver'),
  /** The generic procedure of CID 100, for studies that are neither CT nor MR. */
  ImagingProcedure: codedConcept('363679005', 'SCT', 'Imaging procedure'),
} as const;

/**
 * CID 7472 Volume Measurements, as PixelMed's context group tables list them: the concepts another
 * system's TID 1500 report may name a volume with (issue 16). SCT 118565006 "Volume" is SCT.Volume.
 */
export const DCM_VOLUME = {
  VolumeEstimatedFromSingle2DRegion: codedConcept('121216', 'DCM', 'Volume estimated from single 2D region'),
  VolumeEstimatedFromThreeOrMore2DRegions: codedConcept('121217', 'DCM', 'Volume estimated from three or more non-coplanar 2D regions'),
  VolumeEstimatedFromTwo2DRegions: codedConcept('121218', 'DCM', 'Volume estimated from two non-coplanar 2D regions'),
  VolumeOfBounding3DRegion: codedConcept('121219', 'DCM', 'Volume of bounding three dimensional region'),
  VolumeOfCircumscribedSphere: codedConcept('121220', 'DCM', 'Volume of circumscribed sphere'),
  VolumeOfEllipsoid: codedConcept('121221', 'DCM', 'Volume of ellipsoid'),
  VolumeOfSphere: codedConcept('121222', 'DCM', 'Volume of sphere'),
} as const;

/** CID 7470 Linear Measurements, as PixelMed's context group tables list them: a kidney's diameters (ultrasound). */
export const SCT_LINEAR = {
  Length: codedConcept('410668003', 'SCT', 'Length'),
  Width: codedConcept('103355008', 'SCT', 'Width'),
  Depth: codedConcept('131197000', 'SCT', 'Depth'),
} as const;

/** UCUM units (https://ucum.org). */
export const UCUM = {
  Millimeter: codedConcept('mm', 'UCUM', 'millimeter'),
  Centimeter: codedConcept('cm', 'UCUM', 'centimeter'),
  Milliliter: codedConcept('mL', 'UCUM', 'milliliter'),
  CubicCentimeter: codedConcept('cm3', 'UCUM', 'cubic centimeter'),
  Liter: codedConcept('L', 'UCUM', 'liter'),
  CubicMillimeter: codedConcept('mm3', 'UCUM', 'cubic millimeter'),
} as const;

/** RFC 5646 language tags used as codes. */
export const RFC5646 = {
  EnglishUS: codedConcept('en-US', 'RFC5646', 'English (United States)'),
} as const;

/** LOINC codes from CID 100 (Quantitative Diagnostic Imaging Procedures) for "procedure reported". */
export const LN = {
  CTUnspecifiedBodyRegion: codedConcept('25045-6', 'LN', 'CT unspecified body region'),
  MRUnspecifiedBodyRegion: codedConcept('25056-3', 'LN', 'MRI unspecified body region'),
} as const;

/** DICOM codes that say a measurement was derived from a Segmentation (PS3.16 CID 7203, TID 300, TID 1411). */
export const DCM_SEGMENTATION = {
  /** CID 7203 Image Derivation: what was done to get the volume. */
  Segmentation: codedConcept('113076', 'DCM', 'Segmentation'),
  /** TID 300 row 4: concept modifier of a NUM naming how the value was derived. */
  Derivation: codedConcept('121401', 'DCM', 'Derivation'),
  /**
   * Names the IMAGE reference to the SEG and its segment(s) in a TID 1501 group. Not TID 1411's
   * "Referenced Segment" (121191): validators then take the group for TID 1411 and want its source-image rows.
   */
  SourceOfMeasurement: codedConcept('121112', 'DCM', 'Source of Measurement'),
} as const;
