/**
 * A clock reading on a zone's wall clock, as DICOM DA and TM (PS3.5 section 6.2), and the zone
 * arithmetic the FHIR dateTime writer shares (src/fhir/datetime.ts): one reading of a zone, so the
 * SR's ContentTime and FHIR's times agree.
 */

/** A fixed UTC offset as configured: "+01:00", "+0100", "-05:00". */
export const UTC_OFFSET = /^([+-])(\d{2}):?(\d{2})$/;

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Offset (minutes east of UTC) of an IANA zone at one UTC instant, from the platform's time zone data. */
export function zoneOffsetAt(utcMs: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(utcMs));
  const get = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return Math.round((wall - Math.floor(utcMs / 1000) * 1000) / 60_000);
}

/** A clock reading as DICOM DA (YYYYMMDD) and TM (HHMMSS) wall-clock values. */
export interface WallClock {
  readonly date: string;
  readonly time: string;
}

/**
 * A clock reading on the wall clock of `timeZone` (an offset like "+0100" or an IANA name), the
 * same zone the FHIR step gives StudyTime, so the SR's ContentTime and FHIR agree; without a zone,
 * this machine's. DICOM times carry no zone of their own (TimezoneOffsetFromUTC is not written).
 */
export function wallClock(now: Date, timeZone: string | undefined): WallClock {
  if (Number.isNaN(now.getTime())) throw new Error(`now must be a valid Date, got "${String(now)}"`);
  const tz = timeZone?.trim();
  let fields: [number, number, number, number, number, number];
  if (tz === undefined || tz === '') {
    fields = [now.getFullYear(), now.getMonth() + 1, now.getDate(), now.getHours(), now.getMinutes(), now.getSeconds()];
  } else {
    const fixed = tz === 'Z' || tz === 'UTC' ? ['+', '00', '00'] : UTC_OFFSET.exec(tz)?.slice(1);
    const minutes = fixed ? (fixed[0] === '-' ? -1 : 1) * (Number(fixed[1]) * 60 + Number(fixed[2])) : zoneOffsetAt(now.getTime(), tz);
    const shifted = new Date(now.getTime() + minutes * 60_000);
    fields = [shifted.getUTCFullYear(), shifted.getUTCMonth() + 1, shifted.getUTCDate(), shifted.getUTCHours(), shifted.getUTCMinutes(), shifted.getUTCSeconds()];
  }
  const [y, mo, d, h, mi, s] = fields;
  return { date: `${String(y).padStart(4, '0')}${pad2(mo)}${pad2(d)}`, time: `${pad2(h)}${pad2(mi)}${pad2(s)}` };
}
