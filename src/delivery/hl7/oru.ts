/**
 * ORU^R01 "Unsolicited transmission of an observation message" (HL7 v2.5.1 section 7.3.1): one
 * message per study and version of its measurements, MSH PID OBR, one OBX per volume, and a ZDS
 * with the StudyInstanceUID. Pure: facts, the version (src/fhir/versions.ts) and the clock's reading in, text out.
 *
 * Result status (OBR-25, OBX-11; v2.5.1 table 0085, the same version data as the FHIR statuses):
 * F "Final results" for a first version and for an OBX the new version leaves as it was; C "Record
 * coming over is a correction and thus replaces a final result" for a new version's OBR and each
 * changed OBX; D "Deletes the OBX record" for a measurement the new version no longer has (not W
 * "Post original as wrong, e.g., transmitted for wrong patient": the measurement was not wrongly
 * posted, it is no longer part of the result; the v2-to-FHIR mapping pairs D with entered-in-error,
 * the FHIR status it gets). OBX-3 and OBX-4 stay the same for a measurement in every version, so
 * the receiver replaces the OBX instead of adding one.
 */
import { createHash } from 'node:crypto';
import { SCT, UCUM } from '../../dicom/codes.js';
import { findingSiteOf } from '../../dicom/sr/finding-sites.js';
import { procedureReportedFor } from '../../dicom/sr/header.js';
import type { Measurement, MeasurementSet } from '../../measurements/model.js';
import { firstVersion, type ResultChange, type ResultVersion, type VersionedResult } from '../../fhir/versions.js';
import type { StudyFacts } from '../../study/facts.js';
import { studyIdentity } from '../../study/identity.js';
import type { Hl7Party } from '../settings.js';
import { diameterSegments, ellipsoidMethodField } from './ellipsoid.js';
import { components, cwe, dtmFromDicom, dtmOfInstant, ENCODING_CHARACTERS, escapeText, segment, SEGMENT_END } from './encoding.js';

/** The version the message declares (MSH-12). */
export const HL7_VERSION = '2.5.1';
/** MSH-18: names arrive from Orthanc as UTF-8 and stay so (HL7 table 0211). */
export const HL7_CHARSET = 'UNICODE UTF-8';
/** OBX-11 and OBR-25 (table 0085): final results. */
const FINAL = 'F';
/** OBX-11 and OBR-25: a correction that replaces a final result. */
const CORRECTED = 'C';
/** OBX-11: deletes the OBX record. */
const DELETED = 'D';
/** OBX-11 for each change a message carries ('removed-earlier' is not sent again). */
const OBX_STATUS: Readonly<Record<Exclude<ResultChange, 'removed-earlier'>, string>> = { new: FINAL, unchanged: FINAL, changed: CORRECTED, removed: DELETED };
/** Text for the total of both kidneys, coded as "Kidney" since OBX-20 has no laterality (as in FHIR bodySite). */
const BOTH_KIDNEYS_TEXT = 'Both kidneys';

/** OBX-11 of a result this message carries. */
function obxStatus(result: VersionedResult): string {
  return OBX_STATUS[result.change === 'removed-earlier' ? 'removed' : result.change];
}

/** Who sends and who receives the message. */
export interface OruOptions {
  readonly sender: Hl7Party;
  readonly receiver: Hl7Party;
}

/** A built message and its control ID. */
export interface OruMessage {
  /** Segments joined by carriage returns, without MLLP framing. */
  readonly text: string;
  /**
   * MSH-10: the same for the same version of a study's measurements, so a resent message is
   * recognisable as a duplicate, and different for every other message (a later version that
   * returns to earlier values is another message, told apart by its version key).
   */
  readonly controlId: string;
}

/**
 * MSH-10 for a study (its identity: StudyInstanceUID and Orthanc study ID, so two patients' studies
 * that share a StudyInstanceUID never share a control ID), measurement set and version key
 * (ResultVersion.versionKey): 20 hex characters (the v2.5.1 length limit) of their sha256. Without
 * a version key (a first version without a Bundle) study and set alone.
 */
export function controlIdOf(study: readonly [string, string], digest: string, versionKey?: string): string {
  const key = [...study, digest, ...(versionKey === undefined ? [] : [versionKey])].join('|');
  return createHash('sha256').update(key).digest('hex').slice(0, 20).toUpperCase();
}

/**
 * Builds the ORU^R01 for one version of a study's measurements; without `version`, as the first
 * version (every OBX final, in set order).
 */
export function oruR01(facts: StudyFacts, measurements: MeasurementSet, now: Date, options: OruOptions, version: ResultVersion = firstVersion(measurements)): OruMessage {
  const controlId = controlIdOf(studyIdentity(facts), measurements.digest, version.versionKey);
  const observed = dtmFromDicom(facts.studyDate, facts.studyTime, facts.timezoneOffsetFromUtc);
  const reported = dtmOfInstant(now);
  const sent = version.results.filter((r) => r.change !== 'removed-earlier');
  const segments = [
    // MSH-1 is the field separator itself, so MSH-2 is the first field after the name.
    segment('MSH', [
      ENCODING_CHARACTERS,
      components(options.sender.application),
      components(options.sender.facility),
      components(options.receiver.application),
      components(options.receiver.facility),
      reported,
      '',
      'ORU^R01^ORU_R01',
      controlId,
      'P',
      HL7_VERSION,
      // MSH-13..17 (sequence number, continuation, acknowledgment types, country) stay empty: original-mode ACKs.
      '', '', '', '', '',
      HL7_CHARSET,
    ]),
    pid(facts),
    obr(facts, observed, reported, version.correction ? CORRECTED : FINAL),
    ...sent.map((r, index) => obx(r, index + 1, observed)),
    ...diameterSegments(
      sent.map((r) => ({ position: r.position, measurement: r.measurement, status: obxStatus(r) })),
      sent.length + 1,
      observed,
    ),
    // Z-segment as IHE Radiology uses it (ZDS-1, RP): lets a receiver find the images in the PACS.
    segment('ZDS', [`${escapeText(facts.studyInstanceUid)}^^Application^DICOM`]),
  ];
  return { text: segments.join(SEGMENT_END) + SEGMENT_END, controlId };
}

/** PID: identifier with its issuer (PID-3), every PN group of the name (PID-5), birth date, sex. */
function pid(facts: StudyFacts): string {
  const p = facts.patient;
  const identifier = components(p.patientId, '', '', p.issuerOfPatientId, p.patientId !== '' ? 'PI' : '');
  return segment('PID', [
    '1',
    '',
    identifier,
    '',
    patientNames(p.patientName),
    '',
    /^\d{8}$/.test(p.birthDate) ? p.birthDate : '',
    ['M', 'F', 'O'].includes(p.sex) ? p.sex : '',
  ]);
}

/**
 * A DICOM PN (family^given^middle^prefix^suffix, groups alphabetic=ideographic=phonetic) as XPN
 * repetitions (family^given^middle^suffix^prefix, XPN.8 name representation A, I or P).
 */
function patientNames(pn: string): string {
  const representation = ['A', 'I', 'P'];
  return pn
    .split('=')
    .map((group, index) => ({ group, code: representation[index] ?? '' }))
    .filter(({ group }) => group.replace(/\^/g, '').trim() !== '')
    .map(({ group, code }) => {
      const [family, given, middle, prefix, suffix] = group.split('^');
      return components(family, given, middle, suffix, prefix, '', '', code);
    })
    .join('~');
}

/**
 * OBR for the imaging study: the accession number as filler order number (OBR-3; the
 * StudyInstanceUID when there is none, since OBR-2 or OBR-3 must be valued) and again in OBR-18
 * (Placer Field 1) where IHE Radiology puts it; the reported procedure from CID 100 in OBR-4.
 */
function obr(facts: StudyFacts, observed: string, reported: string, status: string): string {
  const filler = facts.accessionNumber !== '' ? facts.accessionNumber : facts.studyInstanceUid;
  const fields = Array<string>(25).fill('');
  fields[0] = '1';
  fields[2] = components(filler);
  fields[3] = cwe(procedureReportedFor(facts), facts.studyDescription || undefined);
  fields[6] = observed;
  fields[17] = components(facts.accessionNumber);
  fields[21] = reported;
  fields[24] = status;
  return segment('OBR', fields);
}

/**
 * One OBX per volume: NM, Volume (SCT 118565006) with the measurement's name as CWE.9 original
 * text, the measurement's stable position as sub-ID (OBX-4 is at most 20 characters, names up to
 * 40; the position never changes across versions), the value with its input precision in mL, the
 * status (F, C or D), the method (OBX-17), the producing program (OBX-18) and the coded body site
 * (OBX-20). A deleted OBX carries its identity (OBX-3, OBX-4, OBX-20) and no value.
 */
function obx(result: VersionedResult, setId: number, observed: string): string {
  const fields = Array<string>(20).fill('');
  const m: Measurement | undefined = result.measurement;
  const anatomy = m?.anatomy ?? result.anatomy;
  fields[0] = String(setId);
  fields[1] = 'NM';
  fields[2] = cwe(SCT.Volume, m?.name ?? result.name);
  fields[3] = String(result.position);
  if (m !== undefined) {
    fields[4] = m.valueMl;
    fields[5] = components(UCUM.Milliliter.value, UCUM.Milliliter.meaning, UCUM.Milliliter.scheme);
  }
  fields[10] = obxStatus(result);
  fields[13] = observed;
  fields[16] = (m !== undefined ? ellipsoidMethodField(m) : undefined) ?? (m?.method !== undefined ? components('', m.method) : '');
  fields[17] = m?.source !== undefined ? components(m.source) : '';
  if (anatomy !== undefined) {
    const site = findingSiteOf(anatomy).site;
    fields[19] = cwe(site, anatomy === 'both-kidneys' ? BOTH_KIDNEYS_TEXT : undefined);
  }
  return segment('OBX', fields);
}
