/**
 * FHIR R4 Patient from the DICOM Patient Module (PS3.3 C.7.1.1); names per PS3.5 section 6.2.1 (PN).
 * Only what the study says is written: no placeholder name, birth date or identifier.
 */
import type { HumanName, Identifier, Patient } from '@medplum/fhirtypes';
import type { PatientFacts } from '../study/facts.js';
import { dicomDateToFhir } from './datetime.js';
import { FhirInputError } from './errors.js';
import { LOCAL_PATIENT_ID, NAME_REPRESENTATION_EXTENSION } from './systems.js';

const OID = /^[0-2](\.(0|[1-9]\d*))+$/;

/** PN component groups in order: alphabetic, ideographic, phonetic (PS3.5 6.2.1.2). */
const REPRESENTATIONS = ['ABC', 'IDE', 'SYL'] as const;

/**
 * The Patient identifier: `urn:oid:<issuer>` when IssuerOfPatientID is an OID, otherwise the local
 * system, with a non-OID issuer appended so that equal IDs from different issuers stay distinct,
 * and the issuer kept readable as the assigner.
 */
export function patientIdentifier(patient: PatientFacts): Identifier {
  const value = patient.patientId.trim();
  if (value === '') {
    throw new FhirInputError('patientId', patient.patientId, 'must not be empty: a Patient without an identifier is a placeholder');
  }
  const issuer = patient.issuerOfPatientId?.trim() ?? '';
  if (issuer === '') return { system: LOCAL_PATIENT_ID, value };
  if (OID.test(issuer)) return { system: `urn:oid:${issuer}`, value };
  return { system: `${LOCAL_PATIENT_ID}:${encodeURIComponent(issuer)}`, value, assigner: { display: issuer } };
}

/** FHIR administrative gender for DICOM Patient's Sex. */
export function patientGender(sex: string): NonNullable<Patient['gender']> {
  switch (sex.trim().toUpperCase()) {
    case 'M':
      return 'male';
    case 'F':
      return 'female';
    case 'O':
      return 'other';
    default:
      return 'unknown';
  }
}

function nonEmpty(values: readonly (string | undefined)[]): string[] {
  return values.map((v) => v?.trim() ?? '').filter((v) => v !== '');
}

/** One PN component group as a HumanName; undefined when all its components are empty. */
function groupToName(group: string, representation: (typeof REPRESENTATIONS)[number], tagged: boolean): HumanName | undefined {
  const parts = group.split('^');
  if (parts.length > 5) {
    // Not a valid PN: keep every character rather than guess which component is which.
    const text = nonEmpty(parts).join(' ');
    return text === '' ? undefined : { text };
  }
  const [family, given, middle, prefix, suffix] = parts;
  const name: HumanName = {};
  if (tagged) name.extension = [{ url: NAME_REPRESENTATION_EXTENSION, valueCode: representation }];
  const familyText = family?.trim() ?? '';
  const givens = nonEmpty([given, middle]);
  const prefixes = nonEmpty([prefix]);
  const suffixes = nonEmpty([suffix]);
  if (familyText === '' && givens.length === 0 && prefixes.length === 0 && suffixes.length === 0) return undefined;
  // Ideographic and phonetic names are read as a whole (e.g. "山田 太郎"), so they also get `text`.
  const wholeText = nonEmpty([family, given, middle]).join(' ');
  if (representation !== 'ABC' && wholeText !== '') name.text = wholeText;
  if (familyText !== '') name.family = familyText;
  if (givens.length > 0) name.given = givens;
  if (prefixes.length > 0) name.prefix = prefixes;
  if (suffixes.length > 0) name.suffix = suffixes;
  return name;
}

/** HumanNames for a DICOM PN: one per non-empty component group, alphabetic first. */
export function dicomNameToHumanNames(pn: string): HumanName[] {
  const groups = pn.split('=');
  if (groups.length > 3) {
    const text = pn.replace(/[\^=]+/g, ' ').trim();
    return text === '' ? [] : [{ text }];
  }
  const present = groups.filter((g) => g.replace(/\^/g, '').trim() !== '').length;
  const names: HumanName[] = [];
  groups.forEach((group, i) => {
    const representation = REPRESENTATIONS[i] ?? 'ABC';
    // Tag the representation only when there is more than one group: a lone alphabetic name needs no label.
    const name = groupToName(group, representation, present > 1);
    if (name) names.push(name);
  });
  return names;
}

/** The study's Patient. */
export function buildPatient(patient: PatientFacts): Patient {
  const resource: Patient = {
    resourceType: 'Patient',
    identifier: [patientIdentifier(patient)],
  };
  const names = dicomNameToHumanNames(patient.patientName);
  if (names.length > 0) resource.name = names;
  resource.gender = patientGender(patient.sex);
  // A birth date DICOM cannot parse (anonymisers write "00000000") is left out, not guessed;
  // the Patient is matched by identifier, so nothing depends on it.
  const birthDate = dicomDateToFhir(patient.birthDate);
  if (birthDate !== undefined) resource.birthDate = birthDate;
  return resource;
}
