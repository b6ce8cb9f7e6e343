/**
 * Reads kidney volumes out of another system's TID 1500 Measurement Report (PS3.16 TID 1500/1501;
 * issue 16, part 1). Unlike `read.ts`, which reads back the tree we write, this reader expects any
 * writer's shape: items in another order, finding sites pre-coordinated (SCT 9846003 / 18639004) or
 * "Kidney" with a laterality, volumes coded with any CID 7472 concept, units mL, cm3, L or mm3.
 * What it cannot read for certain it reports, never guesses. Pure: a dataset in, a reading out.
 */
import { DCM, DCM_VOLUME, SCT, UCUM, type CodedConcept } from '../codes.js';
import type { NaturalDataset } from '../part10.js';
import { DIAMETER_KEYS, ellipsoidVolumeMl, parseDiameterObject, type DiameterKey } from '../../measurements/diameters.js';
import type { Anatomy } from '../../measurements/model.js';
import { shiftDecimal } from '../../measurements/units.js';
import { isConcept, readCodeSequence, type ReadCode } from './content-items.js';
import { DEFAULT_DEVICE_NAME, SR_SERIES_DESCRIPTION } from './document.js';
import { anatomyOf } from './finding-sites.js';
import { DIAMETER_CONCEPTS, MEASUREMENT_REPORT_TEMPLATE_ID } from './templates.js';

/** The SR storage SOP classes share this root (PS3.4 Annex B.5: …88.11 Basic Text to …88.76). */
const SR_SOP_CLASS_ROOT = '1.2.840.10008.5.1.4.1.1.88.';
/** CID 7472 plus SCT "Volume": the concepts a volume NUM may carry. */
const VOLUME_CONCEPTS: readonly CodedConcept[] = [SCT.Volume, ...Object.values(DCM_VOLUME)];
/** The sides we take from DICOM: kidneys only. Other anatomies are reported, not used. */
const KIDNEY_ANATOMIES: ReadonlySet<Anatomy> = new Set(['right-kidney', 'left-kidney', 'both-kidneys']);
/** Deepest content tree walked: TID 1500 is 4 levels deep; a deeper tree is not one we should trust. */
const MAX_DEPTH = 12;
/** Most content items visited, so a hostile document costs bounded time. */
const MAX_ITEMS = 20_000;

/** What identifies our own reports (besides their series description and manufacturer). */
export interface OwnReports {
  /** Device Observer UIDs our writer uses (one per UID root it has been configured with). */
  readonly deviceObserverUids: readonly string[];
}

/** The report as the status and `verify` name it. */
export interface VendorReport {
  readonly sopInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly sopClassUid: string;
  readonly manufacturer: string;
  /** Who observed: "device <name> (<uid>)", "person <name>", or "" when the report does not say. */
  readonly observer: string;
  /** ContentDate and ContentTime, "YYYYMMDD HHMMSS" as written: which of two reports is newer. */
  readonly contentDateTime: string;
}

/** One kidney volume found, with the unit the parser accepts (mm³ already converted to mL). */
export interface VendorVolume {
  readonly anatomy: Anatomy;
  /** Decimal text as written in the report (after an exact mm³ to mL shift). */
  readonly value: string;
  readonly unit: 'mL' | 'cm3' | 'L';
  /** The volume concept, e.g. (118565006, SCT, "Volume"). */
  readonly concept: ReadCode;
  /** Content item position, numbered as dsrdump and PixelMed number it, e.g. "1.5.2.4". */
  readonly path: string;
  /** When the group gave diameters and no volume: each as the parser reads it ("112 mm"); `value` is then their ellipsoid in mL. */
  readonly diameters?: Readonly<Record<DiameterKey, string>>;
}

/** What a dataset says as a source of kidney volumes. */
export type VendorSrReading =
  | { readonly kind: 'not-sr'; readonly reason: string }
  /** One of the sidecar's own reports: never input. */
  | { readonly kind: 'ours' }
  /** An SR with no volume in it (a dose report, a key object...): nothing to say. */
  | { readonly kind: 'ignored'; readonly report: VendorReport; readonly reason: string }
  /** Volumes we will not guess about: ignored, and reported. */
  | { readonly kind: 'unsure'; readonly report: VendorReport; readonly reasons: readonly string[] }
  /** Kidney volumes to use; `notes` name the volumes left out (other anatomies, unreadable units). */
  | { readonly kind: 'volumes'; readonly report: VendorReport; readonly volumes: readonly VendorVolume[]; readonly notes: readonly string[] };

/** Reads a naturalized SR dataset. Never throws on content: anything unexpected becomes a reason. */
export function readVendorSr(dataset: NaturalDataset, own: OwnReports): VendorSrReading {
  const sopClassUid = text(dataset['SOPClassUID']);
  if (!sopClassUid.startsWith(SR_SOP_CLASS_ROOT)) return { kind: 'not-sr', reason: `SOP class ${sopClassUid || '(none)'} is not an SR storage class` };
  const walk = new Walk();
  const observer = observerOf(dataset);
  if (isOurs(dataset, observer.deviceUid, own)) return { kind: 'ours' };
  const report: VendorReport = {
    sopInstanceUid: text(dataset['SOPInstanceUID']),
    seriesInstanceUid: text(dataset['SeriesInstanceUID']),
    sopClassUid,
    manufacturer: text(dataset['Manufacturer']),
    observer: observer.text,
    contentDateTime: `${text(dataset['ContentDate'])} ${text(dataset['ContentTime']).slice(0, 6)}`.trim(),
  };
  const found: Found[] = [];
  walk.collect(dataset, '1', 0, [], found);
  if (walk.problem) return { kind: 'unsure', report, reasons: [walk.problem] };
  const root = readCodeSequence(dataset['ConceptNameCodeSequence']);
  const template = templateOf(dataset);
  const isTid1500 = dataset['ValueType'] === 'CONTAINER' && isConcept(root, DCM.ImagingMeasurementReport) && (template === undefined || template === MEASUREMENT_REPORT_TEMPLATE_ID);
  const what = `root ${text(dataset['ValueType']) || '(none)'} ${describeCode(root)}${template !== undefined ? `, template TID ${template}` : ''}`;
  if (found.length === 0) return { kind: 'ignored', report, reason: isTid1500 ? 'the Measurement Report holds no volume' : `not a TID 1500 Measurement Report (${what})` };
  if (!isTid1500) return { kind: 'unsure', report, reasons: [`holds ${found.length} volume(s) but is not a TID 1500 Measurement Report (${what})`] };
  return sortOut(report, found);
}

/** A volume NUM (or a group's diameters) with the finding site and laterality in force where it sits. */
interface Found {
  readonly item: NaturalDataset;
  readonly path: string;
  readonly concept: ReadCode;
  readonly site?: ReadCode;
  readonly laterality?: ReadCode;
  /** The diameter NUMs of a group without a volume, by diameter; `item` is then the group. */
  readonly diameters?: Readonly<Record<DiameterKey, readonly NaturalDataset[]>>;
}

/** The concept a volume estimated from a group's diameters is read as. */
const ELLIPSOID: ReadCode = DCM_VOLUME.VolumeOfEllipsoid;

/** Keeps the kidney volumes, refuses a report that contradicts itself, notes what it leaves out. */
function sortOut(report: VendorReport, found: readonly Found[]): VendorSrReading {
  const notes: string[] = [];
  const bySide = new Map<Anatomy, VendorVolume[]>();
  for (const f of found) {
    const where = f.diameters ? `diameters (no volume) at content item ${f.path}` : `volume ${describeCode(f.concept)} at content item ${f.path}`;
    if (!f.site) {
      notes.push(`${where} has no finding site`);
      continue;
    }
    const anatomy = f.site.scheme === 'SCT' ? anatomyOf(f.site.value, f.laterality?.value) : undefined;
    if (anatomy === undefined || !KIDNEY_ANATOMIES.has(anatomy)) {
      notes.push(`${where} has finding site ${describeCode(f.site)}${f.laterality ? ` (${describeCode(f.laterality)})` : ''}, not a kidney`);
      continue;
    }
    const value = f.diameters ? ellipsoidOf(f.diameters) : valueOf(f.item);
    if (typeof value === 'string') {
      notes.push(`${where} (${anatomy}): ${value}`);
      continue;
    }
    const list = bySide.get(anatomy) ?? [];
    list.push({ anatomy, ...value, concept: f.concept, path: f.path });
    bySide.set(anatomy, list);
  }
  const volumes: VendorVolume[] = [];
  const conflicts: string[] = [];
  for (const [anatomy, list] of bySide) {
    const distinct = new Set(list.map(inMl));
    if (distinct.size > 1) conflicts.push(`${list.length} different ${anatomy} volumes (${list.map((v) => `${v.value} ${v.unit} at ${v.path}`).join(', ')})`);
    else volumes.push(list[0] as VendorVolume);
  }
  if (conflicts.length > 0) return { kind: 'unsure', report, reasons: [...conflicts, ...notes] };
  if (volumes.length === 0) return { kind: 'unsure', report, reasons: notes.length > 0 ? notes : ['no kidney volume'] };
  return { kind: 'volumes', report, volumes, notes };
}

/** The volume's value and unit as the parser takes them, or why it cannot be read. */
function valueOf(num: NaturalDataset): { value: string; unit: VendorVolume['unit'] } | string {
  const measured = first(num['MeasuredValueSequence']);
  if (!measured) return 'has no measured value';
  const raw = single(measured['NumericValue']);
  const value = typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : typeof raw === 'string' ? raw.trim() : '';
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(value)) return `value ${JSON.stringify(value)} is not a plain positive decimal`;
  const unit = readCodeSequence(measured['MeasurementUnitsCodeSequence']);
  if (!unit || unit.scheme !== 'UCUM') return `unit ${describeCode(unit)} is not a UCUM volume unit`;
  // UCUM is case-sensitive but "l" and "L" are both the litre.
  if (unit.value === UCUM.Milliliter.value || unit.value === 'ml') return { value, unit: 'mL' };
  if (unit.value === UCUM.CubicCentimeter.value) return { value, unit: 'cm3' };
  if (unit.value === UCUM.Liter.value || unit.value === 'l') return { value, unit: 'L' };
  // mm³ is not a unit of the measurement parser: shift the decimal exactly (1 mL = 1000 mm³).
  if (unit.value === UCUM.CubicMillimeter.value) return { value: shiftDecimal(`000${value}`, -3), unit: 'mL' };
  return `unit ${describeCode(unit)} is not mL, cm3, L or mm3`;
}

/** Units a diameter may carry (UCUM), as the measurement parser spells them. */
const LENGTH_UNITS: ReadonlyMap<string, string> = new Map([
  ['mm', 'mm'],
  ['cm', 'cm'],
  ['m', 'm'],
]);

/** The ellipsoid volume of a group's diameters, through the measurement parser's rules, or why it cannot be had. */
function ellipsoidOf(nums: Readonly<Record<DiameterKey, readonly NaturalDataset[]>>): { value: string; unit: 'mL'; diameters: Record<DiameterKey, string> } | string {
  const texts: Partial<Record<DiameterKey, string>> = {};
  for (const key of DIAMETER_KEYS) {
    const list = nums[key];
    if (list.length === 0) return `has no ${key}, so no ellipsoid volume`;
    const read = list.map(lengthOf);
    const bad = read.find((r) => r.startsWith('!'));
    if (bad !== undefined) return `its ${key} ${bad.slice(1)}`;
    if (new Set(read).size > 1) return `has ${list.length} different ${key}s (${read.join(', ')})`;
    texts[key] = read[0] as string;
  }
  const diameters = texts as Record<DiameterKey, string>;
  try {
    return { value: ellipsoidVolumeMl(parseDiameterObject('diameters', diameters)), unit: 'mL', diameters };
  } catch (error) {
    return (error as Error).message;
  }
}

/** "112 mm" from a diameter NUM, or "!" and why not. */
function lengthOf(num: NaturalDataset): string {
  const measured = first(num['MeasuredValueSequence']);
  const raw = measured ? single(measured['NumericValue']) : undefined;
  const value = typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : typeof raw === 'string' ? raw.trim() : '';
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(value)) return `!value ${JSON.stringify(value)} is not a plain positive decimal`;
  const unit = measured ? readCodeSequence(measured['MeasurementUnitsCodeSequence']) : undefined;
  const spelled = unit?.scheme === 'UCUM' ? LENGTH_UNITS.get(unit.value) : undefined;
  if (spelled === undefined) return `!unit ${describeCode(unit)} is not mm, cm or m`;
  return `${value} ${spelled}`;
}

/** A value in mL as a canonical decimal, to compare two volumes given in different units. */
function inMl(v: VendorVolume): string {
  const ml = v.unit === 'L' ? shiftDecimal(v.value, 3) : v.value;
  const [whole = '0', fraction = ''] = ml.split('.');
  const trimmed = fraction.replace(/0+$/, '');
  return `${whole.replace(/^0+(?=\d)/, '')}${trimmed ? `.${trimmed}` : ''}`;
}

/** Walks the content tree once, bounded, collecting volume NUMs with the finding site in force. */
class Walk {
  private visited = 0;
  problem: string | undefined;

  collect(node: NaturalDataset, path: string, depth: number, context: readonly NaturalDataset[], out: Found[]): void {
    const children = items(node['ContentSequence']);
    if (depth > MAX_DEPTH || (this.visited += children.length) > MAX_ITEMS) {
      this.problem ??= `the content tree is deeper than ${MAX_DEPTH} levels or larger than ${MAX_ITEMS} items`;
      return;
    }
    // Modifiers at this level apply to every NUM below (TID 1501 rows 6-7 sit beside the NUM).
    const here = [...context, ...children.filter((c) => c['RelationshipType'] === 'HAS CONCEPT MOD')];
    children.forEach((child, index) => {
      const childPath = `${path}.${index + 1}`;
      const concept = readCodeSequence(child['ConceptNameCodeSequence']);
      if (child['ValueType'] === 'NUM' && VOLUME_CONCEPTS.some((c) => isConcept(concept, c))) {
        // The NUM's own modifiers (TID 300) win over the group's.
        const own = items(child['ContentSequence']).filter((c) => c['RelationshipType'] === 'HAS CONCEPT MOD');
        out.push({ item: child, path: childPath, concept: concept as ReadCode, ...siteOf([...here, ...own]) });
      } else if (child['ValueType'] === 'CONTAINER' && !isConcept(concept, DCM.ImageLibrary)) {
        this.collect(child, childPath, depth + 1, here, out);
      }
    });
    const found = diametersWithoutVolume(children);
    if (found) out.push({ item: node, path, concept: ELLIPSOID, diameters: found.nums, ...siteOf([...here, ...found.own]) });
  }
}

/** The diameter NUMs of one container when it has some and no volume NUM, with their own modifiers (TID 300). */
function diametersWithoutVolume(children: readonly NaturalDataset[]): { nums: Record<DiameterKey, NaturalDataset[]>; own: NaturalDataset[] } | undefined {
  const numsNamed = (concepts: readonly CodedConcept[]): NaturalDataset[] =>
    children.filter((c) => c['ValueType'] === 'NUM' && concepts.some((k) => isConcept(readCodeSequence(c['ConceptNameCodeSequence']), k)));
  const nums = Object.fromEntries(DIAMETER_KEYS.map((k) => [k, numsNamed([DIAMETER_CONCEPTS[k]])])) as Record<DiameterKey, NaturalDataset[]>;
  const all = DIAMETER_KEYS.flatMap((k) => nums[k]);
  if (all.length === 0 || numsNamed(VOLUME_CONCEPTS).length > 0) return undefined;
  return { nums, own: all.flatMap((n) => items(n['ContentSequence']).filter((c) => c['RelationshipType'] === 'HAS CONCEPT MOD')) };
}

/** The finding site and laterality in force among the given modifiers (the last wins; a site's own laterality first). */
function siteOf(modifiers: readonly NaturalDataset[]): { site?: ReadCode; laterality?: ReadCode } {
  const site = lastCode(modifiers, SCT.FindingSite);
  const siteItem = modifiers.filter((c) => isConcept(readCodeSequence(c['ConceptNameCodeSequence']), SCT.FindingSite)).pop();
  const laterality = (siteItem && lastCode(items(siteItem['ContentSequence']), SCT.Laterality)) ?? lastCode(modifiers, SCT.Laterality);
  return { ...(site ? { site } : {}), ...(laterality ? { laterality } : {}) };
}

/** The value of the last CODE item with the concept name, among the given items. */
function lastCode(list: readonly NaturalDataset[], name: CodedConcept): ReadCode | undefined {
  const hit = list.filter((c) => c['ValueType'] === 'CODE' && isConcept(readCodeSequence(c['ConceptNameCodeSequence']), name)).pop();
  return hit ? readCodeSequence(hit['ConceptCodeSequence']) : undefined;
}

/** The observer context at the root (TID 1002): a device or a person, as one line. */
function observerOf(dataset: NaturalDataset): { text: string; deviceUid?: string } {
  const context = items(dataset['ContentSequence']).filter((c) => c['RelationshipType'] === 'HAS OBS CONTEXT');
  const byName = (concept: CodedConcept): NaturalDataset | undefined => context.find((c) => isConcept(readCodeSequence(c['ConceptNameCodeSequence']), concept));
  const deviceUid = text(byName(DCM.DeviceObserverUID)?.['UID']);
  const deviceName = text(byName(DCM.DeviceObserverName)?.['TextValue']);
  const person = personName(byName(DCM.PersonObserverName)?.['PersonName']);
  const parts: string[] = [];
  if (deviceName || deviceUid) parts.push(`device ${deviceName || '(unnamed)'}${deviceUid ? ` (${deviceUid})` : ''}`);
  if (person) parts.push(`person ${person}`);
  return { text: parts.join(', '), ...(deviceUid ? { deviceUid } : {}) };
}

/** Ours when it carries our device observer UID, or our manufacturer with our series description. */
function isOurs(dataset: NaturalDataset, deviceUid: string | undefined, own: OwnReports): boolean {
  if (deviceUid !== undefined && own.deviceObserverUids.includes(deviceUid)) return true;
  return text(dataset['Manufacturer']) === DEFAULT_DEVICE_NAME && text(dataset['SeriesDescription']) === SR_SERIES_DESCRIPTION;
}

function templateOf(dataset: NaturalDataset): string | undefined {
  const item = first(dataset['ContentTemplateSequence']);
  const id = item ? text(item['TemplateIdentifier']) : '';
  return id === '' ? undefined : id;
}

function personName(value: unknown): string {
  const v = single(value);
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'object' && v !== null && typeof (v as { Alphabetic?: unknown }).Alphabetic === 'string') return (v as { Alphabetic: string }).Alphabetic.trim();
  return '';
}

function describeCode(code: ReadCode | undefined): string {
  return code ? `(${code.value},${code.scheme},"${code.meaning}")` : '(none)';
}

function items(value: unknown): NaturalDataset[] {
  return Array.isArray(value) ? value.filter((v): v is NaturalDataset => typeof v === 'object' && v !== null && !Array.isArray(v)) : [];
}

function first(value: unknown): NaturalDataset | undefined {
  return items(value)[0];
}

function single(value: unknown): unknown {
  return Array.isArray(value) ? value[0] : value;
}

function text(value: unknown): string {
  const v = single(value);
  return typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '';
}
