/**
 * ORU content of a volume estimated from three diameters (ultrasound, issue 16): OBX-17 says the
 * method, DCM 121221 "Volume of ellipsoid", and one OBX per diameter follows the volumes, with the
 * volume's sub-ID and a decimal ("1.1", "1.2", "1.3" under volume "1", HL7 v2.5.1 7.4.2.4). Pure.
 */
import { DCM_VOLUME } from '../../dicom/codes.js';
import { DIAMETER_CONCEPTS, LENGTH_UNIT_CODES } from '../../dicom/sr/templates.js';
import { DIAMETER_KEYS, describeDiameters } from '../../measurements/diameters.js';
import type { Measurement } from '../../measurements/model.js';
import { components, cwe, segment } from './encoding.js';

/** OBX-17 of an ellipsoid estimate: the coded method, with the formula and the diameters as original text. */
export function ellipsoidMethodField(m: Measurement): string | undefined {
  if (!m.diameters) return undefined;
  return cwe(DCM_VOLUME.VolumeOfEllipsoid, `ellipsoid estimate pi/6 x length x width x depth (${describeDiameters(m.diameters)})`);
}

/** One volume of the message: its stable OBX-4 position, its measurement (absent when withdrawn) and its OBX-11. */
export interface DiameterSource {
  readonly position: number;
  readonly measurement: Measurement | undefined;
  readonly status: string;
}

/**
 * The diameters' OBX segments of every estimated volume, set IDs counting on from `firstSetId`;
 * each diameter carries its volume's sub-ID and status (a corrected volume's diameters are corrected too).
 */
export function diameterSegments(volumes: readonly DiameterSource[], firstSetId: number, observed: string): string[] {
  let setId = firstSetId;
  return volumes.flatMap(({ position, measurement: m, status }) => {
    const d = m?.diameters;
    if (!m || !d) return [];
    return DIAMETER_KEYS.map((key, k) => {
      const fields = Array<string>(14).fill('');
      fields[0] = String(setId++);
      fields[1] = 'NM';
      fields[2] = cwe(DIAMETER_CONCEPTS[key], `${m.name} ${key}`);
      fields[3] = `${position}.${k + 1}`;
      fields[4] = d[key].value;
      const unit = LENGTH_UNIT_CODES[d[key].unit];
      fields[5] = components(unit.value, unit.meaning, unit.scheme);
      fields[10] = status;
      fields[13] = observed;
      return segment('OBX', fields);
    });
  });
}
