/**
 * What the pipeline knows about one study, read from Orthanc once. Writers take these facts
 * (and the measurements) and never talk to Orthanc themselves. Text is UTF-8 as Orthanc's JSON gives it.
 */

/** The patient module, as the study's images carry it. */
export interface PatientFacts {
  readonly patientId: string;
  readonly issuerOfPatientId?: string;
  /** DICOM PN value (components separated by ^, groups by =), UTF-8. */
  readonly patientName: string;
  /** DICOM DA (YYYYMMDD) or empty. */
  readonly birthDate: string;
  /** DICOM CS: M, F, O or empty. */
  readonly sex: string;
}

/** One instance of a series. */
export interface InstanceFacts {
  readonly orthancId: string;
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly instanceNumber?: number;
  /** Size of the stored file in bytes, as Orthanc reports it; for memory budgets. */
  readonly fileSize?: number;
}

/** One series of the study. */
export interface SeriesFacts {
  readonly orthancId: string;
  readonly seriesInstanceUid: string;
  readonly modality: string;
  readonly seriesNumber?: string;
  readonly seriesDescription?: string;
  readonly instances: readonly InstanceFacts[];
}

/** The general study module plus the study's series. */
export interface StudyFacts {
  readonly orthancId: string;
  readonly studyInstanceUid: string;
  /** DICOM DA, empty when the study has none. */
  readonly studyDate: string;
  /** DICOM TM, empty when the study has none. */
  readonly studyTime: string;
  readonly studyId: string;
  readonly accessionNumber: string;
  readonly referringPhysicianName: string;
  readonly studyDescription: string;
  /**
   * DICOM TimezoneOffsetFromUTC ("+0100", "-0500") of the study's first instance, when it carries a
   * well-formed one: the zone of StudyDate/StudyTime, which the study says better than any setting.
   */
  readonly timezoneOffsetFromUtc?: string;
  readonly patient: PatientFacts;
  readonly series: readonly SeriesFacts[];
}

/** SOP class UID prefixes of objects that are not images (SR, KO, SEG, presentation states, RT, encapsulated documents, raw data). */
const NON_IMAGE_SOP_CLASS_PREFIXES = [
  '1.2.840.10008.5.1.4.1.1.88.', // structured reports and key object selection
  '1.2.840.10008.5.1.4.1.1.66', // raw data, spatial registration, segmentation, surface segmentation
  '1.2.840.10008.5.1.4.1.1.11.', // presentation states
  '1.2.840.10008.5.1.4.1.1.481.', // radiotherapy objects
  '1.2.840.10008.5.1.4.1.1.104.', // encapsulated PDF and CDA
] as const;

/** True when the SOP class stores an image (what the private-tag writer copies and the SR may reference). */
export function isImageSopClass(sopClassUid: string): boolean {
  return !NON_IMAGE_SOP_CLASS_PREFIXES.some((prefix) => sopClassUid.startsWith(prefix));
}

/** True when every instance of the series is an image. */
export function isImageSeries(series: SeriesFacts): boolean {
  return series.instances.length > 0 && series.instances.every((i) => isImageSopClass(i.sopClassUid));
}

/** SeriesDescription suffix of the derived copies the private-tags step writes. */
export const DERIVED_COPY_SUFFIX = ' + kidney volumes';

/** True for an image series that is not one of our derived copies: the images the measurements are about. */
export function isSourceImageSeries(series: SeriesFacts): boolean {
  return isImageSeries(series) && !(series.seriesDescription ?? '').endsWith(DERIVED_COPY_SUFFIX.trim());
}
