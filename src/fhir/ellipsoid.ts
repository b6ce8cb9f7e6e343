/**
 * What an Observation adds when its volume was estimated from three diameters (ultrasound, issue 16):
 * the method coded DCM 121221 "Volume of ellipsoid" and the diameters as components (SCT Length,
 * Width, Depth from CID 7470, UCUM mm or cm). Components, not separate Observations: the diameters
 * are the inputs of this one estimate and mean nothing apart from it (R4 3.1.0.1.13 puts such values
 * in one Observation, as for a blood pressure), and every Observation keeps one volume, one identifier.
 */
import type { CodeableConcept, ObservationComponent, Quantity } from '@medplum/fhirtypes';
import { DCM_VOLUME } from '../dicom/codes.js';
import { DIAMETER_CONCEPTS, LENGTH_UNIT_CODES } from '../dicom/sr/templates.js';
import { DIAMETER_KEYS, describeDiameters } from '../measurements/diameters.js';
import type { Diameter, EllipsoidDiameters } from '../measurements/model.js';
import { PreciseQuantity } from './precise-quantity.js';
import { UCUM, toCoding } from './systems.js';

/** Observation.method of an ellipsoid estimate: the coded method, the formula and the diameters as text. */
export function ellipsoidMethod(diameters: EllipsoidDiameters, given?: string): CodeableConcept {
  const text = `${given?.trim() ? `${given.trim()}: ` : ''}ellipsoid estimate pi/6 x length x width x depth (${describeDiameters(diameters)})`;
  return { coding: [toCoding(DCM_VOLUME.VolumeOfEllipsoid)], text };
}

/** Observation.component: length, width and depth, each with the precision it was given. */
export function diameterComponents(diameters: EllipsoidDiameters): ObservationComponent[] {
  return DIAMETER_KEYS.map((key) => ({ code: { coding: [toCoding(DIAMETER_CONCEPTS[key])] }, valueQuantity: lengthQuantity(diameters[key]) }));
}

function lengthQuantity(d: Diameter): Quantity {
  const unit = LENGTH_UNIT_CODES[d.unit];
  return new PreciseQuantity(d.value, unit.value, UCUM, unit.value);
}
