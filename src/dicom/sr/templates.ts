/**
 * The SR templates of a Measurement Report (PS3.16 TID 1500 and the templates it includes),
 * one builder each, from plain values to content items.
 */
import { DCM, DCM_SEGMENTATION, DCM_VOLUME, RFC5646, SCT, SCT_LINEAR, UCUM, type CodedConcept } from '../codes.js';
import type { NaturalDataset } from '../part10.js';
import { SEGMENTATION_SOP_CLASS_UID } from '../sop-classes.js';
import { DIAMETER_KEYS, type DiameterKey } from '../../measurements/diameters.js';
import type { EllipsoidDiameters, LengthUnit, SegmentationReference } from '../../measurements/model.js';
import { codeItem, codeSequence, containerItem, numItem, textItem, uidrefItem, type ContentItem } from './content-items.js';
import type { FindingSite } from './finding-sites.js';

/** A device taking part in the observation: this tool (TID 1004 Device Observer Identifying Attributes). */
export interface DeviceObserver {
  readonly uid: string;
  readonly name: string;
  readonly manufacturer: string;
  readonly modelName: string;
}

/** One volume as TID 1501 records it. */
export interface MeasurementGroupInput {
  /** Tracking Identifier: the measurement's name as the user gave it. */
  readonly trackingIdentifier: string;
  readonly trackingUid: string;
  /** Absent for named volumes whose anatomy we cannot code. */
  readonly findingSite?: FindingSite;
  /** Volume in mL as a decimal string. */
  readonly valueMl: string;
  /** The SEG the volume was computed from: the NUM names the derivation and the group references the segment(s). */
  readonly segmentation?: SegmentationReference;
  /** The diameters the volume was estimated from: written beside it, and the volume coded "Volume of ellipsoid". */
  readonly diameters?: EllipsoidDiameters;
}

/** The CID 7470 concept of each diameter. */
export const DIAMETER_CONCEPTS: Readonly<Record<DiameterKey, CodedConcept>> = { length: SCT_LINEAR.Length, width: SCT_LINEAR.Width, depth: SCT_LINEAR.Depth };
/** The UCUM unit of each length unit we keep. */
export const LENGTH_UNIT_CODES: Readonly<Record<LengthUnit, CodedConcept>> = { mm: UCUM.Millimeter, cm: UCUM.Centimeter };

/** What a whole report says besides its measurements. */
export interface MeasurementReportContent {
  readonly device: DeviceObserver;
  /** From CID 100 Quantitative Diagnostic Imaging Procedures. */
  readonly procedureReported: CodedConcept;
  readonly groups: readonly MeasurementGroupInput[];
}

/** The TID number written in the root's ContentTemplateSequence. */
export const MEASUREMENT_REPORT_TEMPLATE_ID = '1500';

/** TID 1500 Measurement Report: the document root (merged into the dataset), one TID 1501 group per volume. */
export function tid1500MeasurementReport(report: MeasurementReportContent): NaturalDataset {
  if (report.groups.length === 0) throw new Error('a measurement report needs at least one measurement group, got none');
  return containerItem(
    DCM.ImagingMeasurementReport,
    [
      tid1204LanguageOfContent(),
      ...tid1002ObserverContext(report.device),
      codeItem('HAS CONCEPT MOD', DCM.ProcedureReported, report.procedureReported),
      containerItem(DCM.ImagingMeasurements, report.groups.map(tid1501MeasurementGroup), { relationship: 'CONTAINS' }),
    ],
    { templateId: MEASUREMENT_REPORT_TEMPLATE_ID },
  );
}

/** TID 1501 Measurement Group: tracking identifiers, finding site, the diameters when given, and one NUM volume in mL. */
export function tid1501MeasurementGroup(group: MeasurementGroupInput): ContentItem {
  return containerItem(
    DCM.MeasurementGroup,
    [
      ...trackingIdentifiers(group.trackingIdentifier, group.trackingUid),
      ...(group.findingSite ? [findingSiteItem(group.findingSite)] : []),
      ...(group.diameters ? diameterItems(group.diameters) : []),
      volumeItem(group),
      ...(group.segmentation ? [referencedSegmentItem(group.segmentation)] : []),
    ],
    { relationship: 'CONTAINS' },
  );
}

/** TID 300 Measurement: the volume NUM; from a SEG it carries row 4, Derivation = Segmentation. */
function volumeItem(group: MeasurementGroupInput): ContentItem {
  // CID 7472: a volume estimated from three diameters is the "Volume of ellipsoid", not a measured "Volume".
  const num = numItem('CONTAINS', group.diameters ? DCM_VOLUME.VolumeOfEllipsoid : SCT.Volume, group.valueMl, UCUM.Milliliter);
  if (!group.segmentation) return num;
  return { ...num, ContentSequence: [codeItem('HAS CONCEPT MOD', DCM_SEGMENTATION.Derivation, DCM_SEGMENTATION.Segmentation)] };
}

/** TID 300 Measurement, three times: length, width and depth (CID 7470) in the unit they were given (mm or cm). */
function diameterItems(diameters: EllipsoidDiameters): ContentItem[] {
  return DIAMETER_KEYS.map((key) => numItem('CONTAINS', DIAMETER_CONCEPTS[key], diameters[key].value, LENGTH_UNIT_CODES[diameters[key].unit]));
}

/**
 * TID 1501 row 10b, an IMAGE reference to the SEG and the segment(s) measured, named "Source of
 * Measurement" (PS3.3 C.18.4, Image Reference Macro with ReferencedSegmentNumber).
 */
function referencedSegmentItem(segmentation: SegmentationReference): ContentItem {
  return {
    RelationshipType: 'CONTAINS',
    ValueType: 'IMAGE',
    ConceptNameCodeSequence: codeSequence(DCM_SEGMENTATION.SourceOfMeasurement),
    ReferencedSOPSequence: [
      {
        ReferencedSOPClassUID: SEGMENTATION_SOP_CLASS_UID,
        ReferencedSOPInstanceUID: segmentation.sopInstanceUid,
        ...(segmentation.segmentNumbers.length > 0 ? { ReferencedSegmentNumber: [...segmentation.segmentNumbers] } : {}),
      },
    ],
  };
}

/** TID 1204 Language of Content Item and Descendants: the report is written in English (United States). */
export function tid1204LanguageOfContent(): ContentItem {
  return codeItem('HAS CONCEPT MOD', DCM.LanguageOfContentItemAndDescendants, RFC5646.EnglishUS);
}

/** TID 1002 Observer Context (the part of TID 1001 we need): observer type Device, identified by TID 1004. */
export function tid1002ObserverContext(device: DeviceObserver): ContentItem[] {
  return [codeItem('HAS OBS CONTEXT', DCM.ObserverType, DCM.Device), ...tid1004DeviceObserver(device)];
}

/** TID 1004 Device Observer Identifying Attributes: UID, name, manufacturer, model name. */
export function tid1004DeviceObserver(device: DeviceObserver): ContentItem[] {
  return [
    uidrefItem('HAS OBS CONTEXT', DCM.DeviceObserverUID, device.uid),
    textItem('HAS OBS CONTEXT', DCM.DeviceObserverName, device.name),
    textItem('HAS OBS CONTEXT', DCM.DeviceObserverManufacturer, device.manufacturer),
    textItem('HAS OBS CONTEXT', DCM.DeviceObserverModelName, device.modelName),
  ];
}

/** TID 1501 rows 2-3: a human-readable name and a UID that follows the measurement across reports. */
function trackingIdentifiers(identifier: string, uid: string): ContentItem[] {
  return [
    textItem('HAS OBS CONTEXT', DCM.TrackingIdentifier, identifier),
    uidrefItem('HAS OBS CONTEXT', DCM.TrackingUniqueIdentifier, uid),
  ];
}

/** TID 1501 rows 6-7: the finding site, with its laterality as a concept modifier of the site. */
function findingSiteItem(findingSite: FindingSite): ContentItem {
  const laterality = findingSite.laterality ? [codeItem('HAS CONCEPT MOD', SCT.Laterality, findingSite.laterality)] : [];
  return codeItem('HAS CONCEPT MOD', SCT.FindingSite, findingSite.site, laterality);
}
