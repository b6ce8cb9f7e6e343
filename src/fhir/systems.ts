/**
 * Terminology and identifier system URIs for the FHIR writer, each defined once (FHIR R4 section 4.2,
 * "Using Codes"). DICOM codes come from `src/dicom/codes.ts`; this module only says which FHIR
 * system URI each DICOM coding scheme designator means, plus the few codes that exist only in FHIR.
 */
import type { Coding } from '@medplum/fhirtypes';
import type { CodedConcept, CodingScheme } from '../dicom/codes.js';

/** SNOMED CT (FHIR R4 terminologies-systems). */
export const SNOMED = 'http://snomed.info/sct';
/** UCUM units. */
export const UCUM = 'http://unitsofmeasure.org';
/** LOINC. */
export const LOINC = 'http://loinc.org';
/** DICOM Controlled Terminology (PS3.16), as FHIR names it. */
export const DICOM_DCM = 'http://dicom.nema.org/resources/ontology/DCM';
/** BCP 47 language tags (RFC 5646). */
export const BCP47 = 'urn:ietf:bcp:47';
/** Identifier system for DICOM UIDs written as `urn:oid:<uid>` (as the DICOM SR to FHIR IG does). */
export const DICOM_UID = 'urn:dicom:uid';
/** Generic URI system, used for SOP Class UIDs in ImagingStudy.series.instance.sopClass. */
export const URI = 'urn:ietf:rfc:3986';
/** HL7 observation category code system. */
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
/** HL7 v2 table 0203 (identifier types), used for the accession number. */
export const V2_IDENTIFIER_TYPE = 'http://terminology.hl7.org/CodeSystem/v2-0203';
/** The DICOM SR to FHIR IG's identifier types (tracking-id for the measurement name). */
export const DICOM_IDENTIFIER_TYPE = 'http://hl7.org/fhir/uv/dicom-sr/CodeSystem/dicom-identifier-type';
/** Core extension that tells alphabetic, ideographic and phonetic names apart (ABC, IDE, SYL). */
export const NAME_REPRESENTATION_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation';

/**
 * Patient identifier system when IssuerOfPatientID is empty or not an OID. It is local to the
 * site: a non-OID issuer is appended (percent-encoded) so two issuers' "12345" stay apart.
 */
export const LOCAL_PATIENT_ID = 'urn:dicom:patient-id';
/** Identifier system of the Observations this project writes (value derived from study, name, set digest). */
export const KV_OBSERVATION = 'urn:kidney-volumes:observation';
/** Identifier system of the Bundle this project writes (value derived from study and set digest). */
export const KV_BUNDLE = 'urn:kidney-volumes:bundle';

/** FHIR system URI for each DICOM coding scheme designator we use. */
const SYSTEM_BY_SCHEME: Readonly<Record<CodingScheme, string>> = {
  SCT: SNOMED,
  UCUM,
  LN: LOINC,
  DCM: DICOM_DCM,
  RFC5646: BCP47,
  DCMUID: DICOM_UID,
};

/** The FHIR system URI of a DICOM coding scheme designator. */
export function systemOf(scheme: CodingScheme): string {
  return SYSTEM_BY_SCHEME[scheme];
}

/** A FHIR Coding for a checked DICOM coded concept. */
export function toCoding(concept: CodedConcept): Coding {
  return { system: systemOf(concept.scheme), code: concept.value, display: concept.meaning };
}

/** Codes that exist only on the FHIR side. */
export const FHIR_CODES = {
  /** Observation category "imaging". */
  imagingCategory: { system: OBSERVATION_CATEGORY, code: 'imaging', display: 'Imaging' },
  /** Accession number identifier type. */
  accessionNumber: { system: V2_IDENTIFIER_TYPE, code: 'ACSN', display: 'Accession ID' },
  /** The SR's tracking identifier (the measurement's name), as the DICOM SR to FHIR IG types it. */
  trackingId: { system: DICOM_IDENTIFIER_TYPE, code: 'tracking-id', display: 'Tracking ID' },
  /** DICOM modality SR (PS3.16 CID 29), for the SR series of the ImagingStudy. */
  srModality: { system: DICOM_DCM, code: 'SR', display: 'SR Document' },
} as const satisfies Record<string, Coding>;
