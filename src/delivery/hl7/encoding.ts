/**
 * HL7 v2 encoding (v2.5.1 chapter 2, sections 2.5.4-2.7): the standard delimiters, escaping of
 * text, and composing fields from components. Everything a message carries passes through here.
 */
import type { CodedConcept } from '../../dicom/codes.js';

/** Segment terminator (a carriage return, HL7 v2.5.1 section 2.5.1). */
export const SEGMENT_END = '\r';
/** MSH-2: component ^, repetition ~, escape \, subcomponent &. */
export const ENCODING_CHARACTERS = '^~\\&';

/** Text escaped so that delimiters inside it stay text (section 2.7.1); line breaks become hex escapes. */
export function escapeText(text: string): string {
  return text
    .replace(/\\/g, '\\E\\')
    .replace(/\|/g, '\\F\\')
    .replace(/\^/g, '\\S\\')
    .replace(/&/g, '\\T\\')
    .replace(/~/g, '\\R\\')
    .replace(/\r/g, '\\X0D\\')
    .replace(/\n/g, '\\X0A\\');
}

/** A field of components, each escaped; empty trailing components are dropped. */
export function components(...values: readonly (string | undefined)[]): string {
  const escaped = values.map((v) => escapeText(v ?? ''));
  while (escaped.length > 0 && escaped[escaped.length - 1] === '') escaped.pop();
  return escaped.join('^');
}

/** A segment from its name and fields 1..n (already encoded); empty trailing fields are dropped. */
export function segment(name: string, fields: readonly string[]): string {
  const kept = [...fields];
  while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
  return [name, ...kept].join('|');
}

/** A CWE (coded with exceptions) from a coded concept, with an optional original text (CWE.9). */
export function cwe(concept: CodedConcept, originalText?: string): string {
  // DICOM's scheme designators DCM, SCT, LN and UCUM are also HL7 table 0396 values.
  return components(concept.value, concept.meaning, concept.scheme, '', '', '', '', '', originalText);
}

/**
 * An HL7 DTM from a DICOM DA and TM (PS3.5 6.2) and an optional DICOM offset: YYYYMMDD[HHMM[SS[.SSSS]]][+ZZZZ].
 * Empty when the date is not a DICOM date; the time is dropped when it is not a DICOM time.
 */
export function dtmFromDicom(da: string, tm: string, offset?: string): string {
  const date = /^(\d{4})\.?(\d{2})\.?(\d{2})$/.exec(da.trim());
  if (!date) return '';
  const time = /^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?$/.exec(tm.trim());
  // HL7's DTM allows at most four fraction digits; DICOM's TM has up to six.
  const clock = time ? `${time[1]}${time[2] ?? ''}${time[3] ?? ''}${time[4] ? `.${time[4].slice(0, 4)}` : ''}` : '';
  const zone = clock !== '' && offset !== undefined && /^[+-]\d{4}$/.test(offset) ? offset : '';
  return `${date[1]}${date[2]}${date[3]}${clock}${zone}`;
}

/** An HL7 DTM of an instant, in UTC with an explicit +0000 so no receiver guesses the zone. */
export function dtmOfInstant(instant: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return (
    `${p(instant.getUTCFullYear(), 4)}${p(instant.getUTCMonth() + 1)}${p(instant.getUTCDate())}` +
    `${p(instant.getUTCHours())}${p(instant.getUTCMinutes())}${p(instant.getUTCSeconds())}+0000`
  );
}
