/**
 * DICOM DA/TM (PS3.5 section 6.2) to FHIR R4 date and dateTime (FHIR R4 section 2.24.0.1).
 * FHIR requires a time zone whenever a time is given, and DICOM's StudyTime has none, so a time is
 * only written when the caller says which zone the modality's clock was in; otherwise the date alone.
 */
import { UTC_OFFSET, zoneOffsetAt } from '../dicom/wall-clock.js';
import { FhirInputError } from './errors.js';

// Legacy ACR-NEMA dates (YYYY.MM.DD) still turn up in old archives.
const DA = /^(\d{4})\.?(\d{2})\.?(\d{2})$/;
// TM: HH, HHMM, HHMMSS, HHMMSS.F{1,6}; legacy HH:MM:SS too. DICOM allows second 60 (leap second), as does FHIR.
const TM = /^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?$/;

/** A DICOM DA as FHIR date (YYYY-MM-DD); undefined when empty or not a calendar date. */
export function dicomDateToFhir(da: string): string | undefined {
  const m = DA.exec(da.trim());
  if (!m) return undefined;
  const [, y, mo, d] = m as unknown as [string, string, string, string];
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  // Date.UTC rolls 20230231 over to March; a real date survives the round trip unchanged.
  const check = new Date(Date.UTC(year, month - 1, day));
  if (year < 1 || check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) {
    return undefined;
  }
  return `${y}-${mo}-${d}`;
}

/** A parsed DICOM TM with FHIR's mandatory seconds filled in. */
interface ClockTime {
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  /** Fraction digits as written, without the dot; empty when none. */
  readonly fraction: string;
}

function parseDicomTime(tm: string): ClockTime | undefined {
  const m = TM.exec(tm.trim());
  if (!m) return undefined;
  const hour = Number(m[1]);
  const minute = Number(m[2] ?? '0');
  const second = Number(m[3] ?? '0');
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  return { hour, minute, second, fraction: m[4] ?? '' };
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

function formatOffset(minutes: number): string {
  if (minutes === 0) return 'Z';
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
}

/**
 * The UTC offset of a local wall-clock time in `timeZone` (an offset like "+01:00", "+0100", "Z",
 * or an IANA name like "Europe/Berlin", whose offset then follows daylight saving time on that date).
 */
function offsetForLocalTime(date: string, time: ClockTime, timeZone: string): string {
  const tz = timeZone.trim();
  if (tz === 'Z' || tz === 'UTC') return 'Z';
  const fixed = UTC_OFFSET.exec(tz);
  if (fixed) {
    const minutes = Number(fixed[2]) * 60 + Number(fixed[3]);
    if (Number(fixed[3]) > 59 || minutes > 14 * 60) {
      throw new FhirInputError('timeZone', timeZone, 'must be an offset between -14:00 and +14:00');
    }
    return formatOffset(fixed[1] === '-' ? -minutes : minutes);
  }
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  const localAsUtc = Date.UTC(y, mo - 1, d, time.hour, time.minute, Math.min(time.second, 59));
  try {
    // Two passes: the first guess uses the offset at the wrong instant, the second corrects it
    // (they differ only near a daylight-saving change).
    const guess = zoneOffsetAt(localAsUtc, tz);
    return formatOffset(zoneOffsetAt(localAsUtc - guess * 60_000, tz));
  } catch (e) {
    if (e instanceof RangeError) {
      throw new FhirInputError('timeZone', timeZone, 'must be an IANA time zone name or an offset like +01:00');
    }
    throw e;
  }
}

/**
 * FHIR dateTime for a study's StudyDate and StudyTime: undefined without a date, the date alone
 * without a time or a time zone, else date, time (seconds filled in, fraction kept) and offset.
 */
export function studyDateTime(studyDate: string, studyTime: string, timeZone: string | undefined): string | undefined {
  if (studyDate.trim() === '') return undefined;
  const date = dicomDateToFhir(studyDate);
  if (date === undefined) throw new FhirInputError('studyDate', studyDate, 'must be a DICOM DA (YYYYMMDD)');
  if (studyTime.trim() === '' || timeZone === undefined) return date;
  const time = parseDicomTime(studyTime);
  if (time === undefined) {
    throw new FhirInputError('studyTime', studyTime, 'must be a DICOM TM (HH, HHMM, HHMMSS or HHMMSS.FFFFFF)');
  }
  const fraction = time.fraction === '' ? '' : `.${time.fraction}`;
  const offset = offsetForLocalTime(date, time, timeZone);
  return `${date}T${pad2(time.hour)}:${pad2(time.minute)}:${pad2(time.second)}${fraction}${offset}`;
}

/** A FHIR instant (always UTC, milliseconds) for a clock reading. */
export function fhirInstant(now: Date): string {
  if (Number.isNaN(now.getTime())) throw new FhirInputError('now', String(now), 'must be a valid Date');
  return now.toISOString();
}
