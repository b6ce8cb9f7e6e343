/**
 * The modules of an SR document around its content tree (PS3.3 section A.35.2, Enhanced SR IOD):
 * patient and study copied from the study's facts, the procedure, and the evidence it rests on.
 */
import { LN, SCT, type CodedConcept } from '../codes.js';
import type { NaturalDataset } from '../part10.js';
import { wallClock } from '../wall-clock.js';
import { isImageSeries, isSourceImageSeries, type PatientFacts, type StudyFacts } from '../../study/facts.js';

/** Patient Module (PS3.3 C.7.1.1); type 2 attributes stay present, empty when unknown. */
export function patientModule(patient: PatientFacts): NaturalDataset {
  return {
    PatientName: patient.patientName,
    PatientID: patient.patientId,
    ...(patient.issuerOfPatientId ? { IssuerOfPatientID: patient.issuerOfPatientId } : {}),
    PatientBirthDate: patient.birthDate,
    PatientSex: patient.sex,
  };
}

/** General Study Module (PS3.3 C.7.2.1): the study's own identity and date, never the report's. */
export function generalStudyModule(facts: StudyFacts): NaturalDataset {
  return {
    StudyInstanceUID: facts.studyInstanceUid,
    StudyDate: facts.studyDate,
    StudyTime: facts.studyTime,
    ReferringPhysicianName: facts.referringPhysicianName,
    StudyID: facts.studyId,
    AccessionNumber: facts.accessionNumber,
    ...(facts.studyDescription ? { StudyDescription: facts.studyDescription } : {}),
  };
}

/**
 * Current Requested Procedure Evidence Sequence (PS3.3 C.17.2): every image instance of the
 * study, grouped by series. Empty when the study has no image series, so the caller can omit it.
 */
export function evidenceSequence(facts: StudyFacts): NaturalDataset[] {
  // Our derived copies are made from the measurements, not evidence for them; listing them would
  // also make every re-run after the private step look like a report on other images.
  const series = facts.series.filter(isSourceImageSeries).map((s) => ({
    SeriesInstanceUID: s.seriesInstanceUid,
    ReferencedSOPSequence: s.instances.map((i) => ({
      ReferencedSOPClassUID: i.sopClassUid,
      ReferencedSOPInstanceUID: i.sopInstanceUid,
    })),
  }));
  return series.length === 0 ? [] : [{ StudyInstanceUID: facts.studyInstanceUid, ReferencedSeriesSequence: series }];
}

/**
 * The CID 100 procedure the report is about, from the modalities of the study's image series:
 * CT or MR when only one of them is present, else the generic "Imaging procedure".
 */
export function procedureReportedFor(facts: StudyFacts): CodedConcept {
  const modalities = new Set(facts.series.filter(isImageSeries).map((s) => s.modality.toUpperCase()));
  if (modalities.has('CT') && !modalities.has('MR')) return LN.CTUnspecifiedBodyRegion;
  if (modalities.has('MR') && !modalities.has('CT')) return LN.MRUnspecifiedBodyRegion;
  return SCT.ImagingProcedure;
}

/*
 * Dates and times are wall-clock times of the study's zone (its TimezoneOffsetFromUTC, else
 * KV_TIMEZONE), the zone the FHIR step uses too. We do not declare an offset: it would apply to the
 * StudyDate/StudyTime copied from the modality as well.
 */

/** A DICOM DA (YYYYMMDD) on the wall clock of timeZone (this machine's zone without one). */
export function dicomDate(instant: Date, timeZone?: string): string {
  return wallClock(instant, timeZone).date;
}

/** A DICOM TM (HHMMSS) on the wall clock of timeZone (this machine's zone without one). */
export function dicomTime(instant: Date, timeZone?: string): string {
  return wallClock(instant, timeZone).time;
}
