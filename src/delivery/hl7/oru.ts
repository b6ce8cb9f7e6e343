/**
 * ORU^R01 "Unsolicited transmission of an observation message" (HL7 v2.5.1 section 7.3.1): one
 * message per study and measurement set, MSH PID OBR, one OBX per volume, and a ZDS with the
 * StudyInstanceUID. Pure: facts, measurements and the clock's reading in, text out.
 */
import { createHash } from 'node:crypto';
import { SCT, UCUM } from '../../dicom/codes.js';
import { findingSiteOf } from '../../dicom/sr/finding-sites.js';
import { procedureReportedFor } from '../../dicom/sr/header.js';
import type { Measurement, MeasurementSet } from '../../measurements/model.js';
import type { StudyFacts } from '../../study/facts.js';
import type { Hl7Party } from '../settings.js';
import { diameterSegments, ellipsoidMethodField } from './ellipsoid.js';
import { components, cwe, dtmFromDicom, dtmOfInstant, ENCODING_CHARACTERS, escapeText, segment, SEGMENT_END } from './encoding.js';

/** The version the message declares (MSH-12). */
export const HL7_VERSION = '2.5.1';
/** MSH-18: names arrive from Orthanc as UTF-8 and stay so (HL7 table 0211). */
export const HL7_CHARSET = 'UNICODE UTF-8';
/** OBX-11 and OBR-25: final results. */
const FINAL = 'F';
/** Text for the total of both kidneys, coded as "Kidney" since OBX-20 has no laterality (as in FHIR bodySite). */
const BOTH_KIDNEYS_TEXT = 'Both kidneys';

/** Who sends and who receives the message. */
export interface OruOptions {
  readonly sender: Hl7Party;
  readonly receiver: Hl7Party;
}

/** A built message and its control ID. */
export interface OruMessage {
  /** Segments joined by carriage returns, without MLLP framing. */
  readonly text: string;
  /** MSH-10: the same for the same study and measurements, so a resent message is recognisable as a duplicate. */
  readonly controlId: string;
}

/** MSH-10 for a study and measurement set: 20 hex characters (the v2.5.1 length limit) of their sha256. */
export function controlIdOf(studyInstanceUid: string, digest: string): string {
  return createHash('sha256').update(`${studyInstanceUid}|${digest}`).digest('hex').slice(0, 20).toUpperCase();
}

/** Builds the ORU^R01 for one study's measurements. */
export function oruR01(facts: StudyFacts, measurements: MeasurementSet, now: Date, options: OruOptions): OruMessage {
  const controlId = controlIdOf(facts.studyInstanceUid, measurements.digest);
  const observed = dtmFromDicom(facts.studyDate, facts.studyTime, facts.timezoneOffsetFromUtc);
  const reported = dtmOfInstant(now);
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
    obr(facts, observed, reported),
    ...measurements.measurements.map((m, index) => obx(m, index + 1, observed)),
    ...diameterSegments(measurements.measurements, measurements.measurements.length + 1, observed),
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
function obr(facts: StudyFacts, observed: string, reported: string): string {
  const filler = facts.accessionNumber !== '' ? facts.accessionNumber : facts.studyInstanceUid;
  const fields = Array<string>(25).fill('');
  fields[0] = '1';
  fields[2] = components(filler);
  fields[3] = cwe(procedureReportedFor(facts), facts.studyDescription || undefined);
  fields[6] = observed;
  fields[17] = components(facts.accessionNumber);
  fields[21] = reported;
  fields[24] = FINAL;
  return segment('OBR', fields);
}

/**
 * One OBX per volume: NM, Volume (SCT 118565006) with the measurement's name as CWE.9 original
 * text, the position as sub-ID (OBX-4 is at most 20 characters, names up to 40), the value with
 * its input precision in mL, final, the method (OBX-17), the producing program (OBX-18) and the
 * coded body site (OBX-20).
 */
function obx(m: Measurement, index: number, observed: string): string {
  const fields = Array<string>(20).fill('');
  fields[0] = String(index);
  fields[1] = 'NM';
  fields[2] = cwe(SCT.Volume, m.name);
  fields[3] = String(index);
  fields[4] = m.valueMl;
  fields[5] = components(UCUM.Milliliter.value, UCUM.Milliliter.meaning, UCUM.Milliliter.scheme);
  fields[10] = FINAL;
  fields[13] = observed;
  fields[16] = ellipsoidMethodField(m) ?? (m.method !== undefined ? components('', m.method) : '');
  fields[17] = m.source !== undefined ? components(m.source) : '';
  if (m.anatomy !== undefined) {
    const site = findingSiteOf(m.anatomy).site;
    fields[19] = cwe(site, m.anatomy === 'both-kidneys' ? BOTH_KIDNEYS_TEXT : undefined);
  }
  return segment('OBX', fields);
}
