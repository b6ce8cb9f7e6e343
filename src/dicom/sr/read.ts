/**
 * Reads a TID 1500 Measurement Report back into named volumes, walking the content tree the
 * way `templates.ts` writes it, so `verify` can report what a stored SR really holds.
 */
import { DCM, DCM_VOLUME, SCT, type CodedConcept } from '../codes.js';
import type { NaturalDataset } from '../part10.js';
import { DIAMETER_KEYS, type DiameterKey } from '../../measurements/diameters.js';
import type { Anatomy } from '../../measurements/model.js';
import { isConcept, readCodeSequence, type ReadCode, type ValueType } from './content-items.js';
import { anatomyOf } from './finding-sites.js';
import { DIAMETER_CONCEPTS } from './templates.js';

/** One volume as a stored report gives it. */
export interface ReadMeasurement {
  /** The Tracking Identifier of its measurement group. */
  readonly name: string;
  /**
   * The NumericValue as a decimal string. dcmjs turns DS into a number when it reads a file, so
   * after a round trip "125.50" comes back as "125.5": compare volumes as numbers, not strings.
   */
  readonly valueMl: string;
  /** The unit's UCUM code value, e.g. "mL". */
  readonly unit: string;
  readonly trackingUid?: string;
  readonly findingSite?: ReadCode;
  readonly laterality?: ReadCode;
  /** Set when the finding site is one of the anatomies we code. */
  readonly anatomy?: Anatomy;
  /** True when the volume is coded "Volume of ellipsoid" (DCM 121221): estimated from the diameters. */
  readonly ellipsoid: boolean;
  /** Length, width and depth NUMs of the group, as value and UCUM unit code. */
  readonly diameters?: Readonly<Partial<Record<DiameterKey, { readonly value: string; readonly unit: string }>>>;
}

/** A dataset that is not the Measurement Report we expect; `path` names the content item (e.g. "1.8.2"). */
export class MeasurementReportReadError extends Error {
  /** Makes the error; the message says what was expected and what came. */
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(`${message} (content item ${path})`);
    this.name = 'MeasurementReportReadError';
  }
}

/** Every Volume NUM of every TID 1501 measurement group under "Imaging Measurements", in document order. */
export function readMeasurementReport(dataset: NaturalDataset): ReadMeasurement[] {
  const root = readCodeSequence(dataset.ConceptNameCodeSequence);
  if (dataset.ValueType !== 'CONTAINER' || !isConcept(root, DCM.ImagingMeasurementReport)) {
    throw new MeasurementReportReadError(
      `expected a CONTAINER "${DCM.ImagingMeasurementReport.meaning}" as document root, got ${String(dataset.ValueType)} "${root?.meaning ?? ''}"`,
      '1',
    );
  }
  const results: ReadMeasurement[] = [];
  for (const measurements of childrenOf(dataset, '1', 'CONTAINER', DCM.ImagingMeasurements)) {
    for (const group of childrenOf(measurements.item, measurements.path, 'CONTAINER', DCM.MeasurementGroup)) {
      results.push(...readGroup(group.item, group.path));
    }
  }
  return results;
}

function readGroup(group: NaturalDataset, path: string): ReadMeasurement[] {
  const name = firstChild(group, path, 'TEXT', DCM.TrackingIdentifier)?.item.TextValue;
  if (typeof name !== 'string' || name.length === 0) {
    throw new MeasurementReportReadError(`expected a TEXT "${DCM.TrackingIdentifier.meaning}" in the measurement group, got none`, path);
  }
  const trackingUid = firstChild(group, path, 'UIDREF', DCM.TrackingUniqueIdentifier)?.item.UID;
  const site = firstChild(group, path, 'CODE', SCT.FindingSite);
  const findingSite = site && readCodeSequence(site.item.ConceptCodeSequence);
  const lateralityItem = site && firstChild(site.item, site.path, 'CODE', SCT.Laterality);
  const laterality = lateralityItem && readCodeSequence(lateralityItem.item.ConceptCodeSequence);
  const anatomy = findingSite?.scheme === 'SCT' ? anatomyOf(findingSite.value, laterality?.value) : undefined;
  const diameters = Object.fromEntries(
    DIAMETER_KEYS.flatMap((key) => {
      const num = firstChild(group, path, 'NUM', DIAMETER_CONCEPTS[key]);
      const measured = num && (Array.isArray(num.item.MeasuredValueSequence) ? (num.item.MeasuredValueSequence[0] as NaturalDataset | undefined) : undefined);
      const value = scalar(measured?.NumericValue);
      return value === undefined ? [] : [[key, { value, unit: readCodeSequence(measured?.MeasurementUnitsCodeSequence)?.value ?? '' }]];
    }),
  );
  const volumes = [
    ...childrenOf(group, path, 'NUM', SCT.Volume).map((v) => ({ ...v, ellipsoid: false })),
    ...childrenOf(group, path, 'NUM', DCM_VOLUME.VolumeOfEllipsoid).map((v) => ({ ...v, ellipsoid: true })),
  ];
  return volumes.map(({ item, path: numPath, ellipsoid }) => {
    const measured = (Array.isArray(item.MeasuredValueSequence) ? item.MeasuredValueSequence[0] : undefined) as NaturalDataset | undefined;
    const value = scalar(measured?.NumericValue);
    if (value === undefined) throw new MeasurementReportReadError(`expected a NumericValue in the "${name}" volume, got none`, numPath);
    return {
      name,
      valueMl: value,
      unit: readCodeSequence(measured?.MeasurementUnitsCodeSequence)?.value ?? '',
      ...(typeof trackingUid === 'string' ? { trackingUid } : {}),
      ...(findingSite ? { findingSite } : {}),
      ...(laterality ? { laterality } : {}),
      ...(anatomy ? { anatomy } : {}),
      ellipsoid,
      ...(Object.keys(diameters).length > 0 ? { diameters } : {}),
    };
  });
}

interface LocatedItem {
  readonly item: NaturalDataset;
  /** Position in the tree as dsrdump and pixelmed number it, e.g. "1.8.2.4". */
  readonly path: string;
}

function childrenOf(parent: NaturalDataset, path: string, valueType: ValueType, concept: CodedConcept): LocatedItem[] {
  const children = Array.isArray(parent.ContentSequence) ? (parent.ContentSequence as NaturalDataset[]) : [];
  return children
    .map((item, index) => ({ item, path: `${path}.${index + 1}` }))
    .filter(({ item }) => item.ValueType === valueType && isConcept(readCodeSequence(item.ConceptNameCodeSequence), concept));
}

function firstChild(parent: NaturalDataset, path: string, valueType: ValueType, concept: CodedConcept): LocatedItem | undefined {
  return childrenOf(parent, path, valueType, concept)[0];
}

/** A single DS value as text, whether dcmjs left it a string (built datasets) or made it a number (read files). */
function scalar(value: unknown): string | undefined {
  const single: unknown = Array.isArray(value) ? value[0] : value;
  if (typeof single === 'string' && single.trim().length > 0) return single.trim();
  if (typeof single === 'number' && Number.isFinite(single)) return String(single);
  return undefined;
}
