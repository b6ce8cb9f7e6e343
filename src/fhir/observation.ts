/**
 * One FHIR R4 Observation per measurement, following the DICOM SR to FHIR IG's imaging measurement
 * mapping (TID 1501 measurement group) where R4 allows: SNOMED "Volume" in mL, finding site as bodySite.
 */
import type { CodeableConcept, Observation, Quantity } from '@medplum/fhirtypes';
import { DCM_SEGMENTATION, SCT, UCUM as UCUM_CODES, type CodedConcept } from '../dicom/codes.js';
import type { Anatomy, Measurement } from '../measurements/model.js';
import { diameterComponents, ellipsoidMethod } from './ellipsoid.js';
import { FhirInputError } from './errors.js';
import { PreciseQuantity } from './precise-quantity.js';
import { DICOM_UID, FHIR_CODES, KV_OBSERVATION, UCUM, toCoding } from './systems.js';

/** How each anatomy is coded as bodySite. */
const BODY_SITE: Readonly<Record<Anatomy, { readonly concept: CodedConcept; readonly text?: string }>> = {
  'right-kidney': { concept: SCT.RightKidney },
  'left-kidney': { concept: SCT.LeftKidney },
  // The total of both kidneys: R4 bodySite is one CodeableConcept with no laterality qualifier, and
  // no verified SNOMED concept for "both kidneys" is on our list, so it is Kidney (64033007) with the
  // text saying both. (The SR says the same as Kidney + Laterality Bilateral 51440002; never 7771000,
  // which is the laterality Left.) Kidney is used for nothing else, so readers can map it back.
  'both-kidneys': { concept: SCT.Kidney, text: 'Both kidneys' },
  spleen: { concept: SCT.Spleen },
  liver: { concept: SCT.Liver },
};

/** The bodySite CodeableConcept for an anatomy. */
export function bodySiteFor(anatomy: Anatomy): CodeableConcept {
  const site = BODY_SITE[anatomy];
  return site.text === undefined ? { coding: [toCoding(site.concept)] } : { coding: [toCoding(site.concept)], text: site.text };
}

/** The anatomy a bodySite SNOMED code stands for, undefined when it is not one we write. */
export function anatomyForBodySite(code: string): Anatomy | undefined {
  const hit = (Object.entries(BODY_SITE) as [Anatomy, { concept: CodedConcept }][]).find(([, s]) => s.concept.value === code);
  return hit?.[0];
}

// FHIR decimal without exponent; the measurement model promises a plain decimal string.
const DECIMAL = /^(0|[1-9]\d*)(\.\d+)?$/;

/** valueQuantity in mL, UCUM-coded, with the measurement's own precision. */
export function volumeQuantity(m: Measurement): Quantity {
  if (!DECIMAL.test(m.valueMl) || Number(m.valueMl) <= 0) {
    throw new FhirInputError(`measurement "${m.name}" valueMl`, m.valueMl, 'must be a positive plain decimal number of mL');
  }
  return new PreciseQuantity(m.valueMl, 'mL', UCUM, UCUM_CODES.Milliliter.value);
}

/** A DICOM object the volumes were read from (another system's SR, the original tool's images), by UID. */
export interface DicomSourceReference {
  readonly uid: string;
  readonly display: string;
}

/** What an Observation needs from its surroundings in the Bundle. */
export interface ObservationContext {
  readonly studyInstanceUid: string;
  /** The study's identity (StudyInstanceUID and Orthanc study ID) that identifiers derive from. */
  readonly study: readonly [string, string];
  readonly patientUrl: string;
  readonly imagingStudyUrl: string;
  readonly effective: string | undefined;
  readonly issued: string;
  /** DICOM objects the volumes were read from (issue 16), referenced like a SEG. */
  readonly sources?: readonly DicomSourceReference[];
}

/** The Observation for one measurement, identified by `identifier` (src/fhir/identity.ts), status `final` and `issued` from the context until the version step stamps it. */
export function buildVolumeObservation(m: Measurement, ctx: ObservationContext, identifier: string): Observation {
  if (m.name.trim() === '') throw new FhirInputError('measurement name', m.name, 'must not be empty');
  const obs: Observation = {
    resourceType: 'Observation',
    identifier: [
      { system: KV_OBSERVATION, value: identifier },
      // The name is the SR's Tracking Identifier; the IG maps it to an identifier of type tracking-id.
      // It is the only place the name lives, so a volume without coded anatomy is still named.
      { type: { coding: [{ ...FHIR_CODES.trackingId }] }, value: m.name },
    ],
    status: 'final',
    category: [{ coding: [{ ...FHIR_CODES.imagingCategory }] }],
    code: { coding: [toCoding(SCT.Volume)] },
    subject: { reference: ctx.patientUrl },
  };
  if (ctx.effective !== undefined) obs.effectiveDateTime = ctx.effective;
  obs.issued = ctx.issued;
  // Display-only references: the operator and the program are names, not resources we own.
  if (m.operator?.trim()) obs.performer = [{ display: m.operator.trim() }];
  obs.valueQuantity = volumeQuantity(m);
  if (m.anatomy !== undefined) obs.bodySite = bodySiteFor(m.anatomy);
  if (m.segmentation) obs.method = { coding: [toCoding(DCM_SEGMENTATION.Segmentation)], text: m.method?.trim() || 'segmentation' };
  else if (m.method?.trim()) obs.method = { text: m.method.trim() };
  if (m.diameters) {
    obs.method = ellipsoidMethod(m.diameters, m.method);
    obs.component = diameterComponents(m.diameters);
  }
  if (m.source?.trim()) obs.device = { display: m.source.trim() };
  // derivedFrom, not partOf: the volumes are computed from the study's images after the fact; they
  // are not a step of the imaging procedure. One reference, one meaning.
  obs.derivedFrom = [
    { reference: ctx.imagingStudyUrl },
    ...(m.segmentation ? [segmentationReference(m.segmentation)] : []),
    ...(ctx.sources ?? []).map((s) => ({ identifier: { system: DICOM_UID, value: `urn:oid:${s.uid}` }, display: s.display })),
  ];
  return obs;
}

/**
 * The SEG as a logical reference: R4 has no resource for one DICOM instance (R5's ImagingSelection),
 * so it is named by its SOP Instance UID the way the ImagingStudy is named by its study UID.
 */
function segmentationReference(seg: NonNullable<Measurement['segmentation']>): NonNullable<Observation['derivedFrom']>[number] {
  const segments = seg.segmentNumbers.length > 0 ? `, segment ${seg.segmentNumbers.join(' and ')}` : '';
  return { identifier: { system: DICOM_UID, value: `urn:oid:${seg.sopInstanceUid}` }, display: `DICOM Segmentation ${seg.sopInstanceUid}${segments}` };
}
