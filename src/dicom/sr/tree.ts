/**
 * Any SR document's content tree (PS3.3 C.17.3, SR Document Content Module) as plain nodes a person
 * can read, the way dcmtk's dsrdump prints it: relationship, value type, concept name, value.
 */
import type { NaturalDataset } from '../part10.js';
import { readCodeSequence, type ReadCode } from './content-items.js';

/** One content item, with its children. */
export interface SrTreeNode {
  /** Dotted position, "1" for the root, "1.2.3" below it (dsrdump's numbering). */
  readonly path: string;
  /** RelationshipType to the parent; empty for the root. */
  readonly relationship: string;
  readonly valueType: string;
  /** ConceptNameCodeSequence as "meaning (value, scheme)". */
  readonly concept: string;
  /** The item's value as text; empty for a CONTAINER. */
  readonly value: string;
  readonly children: readonly SrTreeNode[];
}

/** Bounds a hostile or broken document: no deeper than this, no more nodes than that. */
const MAX_DEPTH = 32;
const MAX_NODES = 5000;

/** The content tree of an SR dataset (its root is the dataset itself). */
export function srTree(dataset: NaturalDataset): SrTreeNode {
  const budget = { left: MAX_NODES };
  return node(dataset, '1', '', 0, budget);
}

function node(item: NaturalDataset, path: string, relationship: string, depth: number, budget: { left: number }): SrTreeNode {
  budget.left--;
  const children: SrTreeNode[] = [];
  if (depth < MAX_DEPTH) {
    items(item['ContentSequence']).forEach((child, i) => {
      if (budget.left <= 0) return;
      children.push(node(child, `${path}.${i + 1}`, text(child['RelationshipType']), depth + 1, budget));
    });
  }
  return { path, relationship, valueType: text(item['ValueType']), concept: code(readCodeSequence(items(item['ConceptNameCodeSequence']))), value: valueOf(item), children };
}

/** The value of one content item by its value type (PS3.3 Table C.17.3-1). */
function valueOf(item: NaturalDataset): string {
  switch (text(item['ValueType'])) {
    case 'TEXT':
      return text(item['TextValue']);
    case 'CODE':
      return code(readCodeSequence(items(item['ConceptCodeSequence'])));
    case 'NUM': {
      const measured = items(item['MeasuredValueSequence'])[0];
      if (!measured) return '(no value)';
      const unit = readCodeSequence(items(measured['MeasurementUnitsCodeSequence']));
      return `${text(measured['NumericValue'])} ${unit?.value ?? ''}`.trim();
    }
    case 'UIDREF':
      return text(item['UID']);
    case 'DATE':
      return text(item['Date']);
    case 'TIME':
      return text(item['Time']);
    case 'DATETIME':
      return text(item['DateTime']);
    case 'PNAME':
      return text(item['PersonName']);
    case 'IMAGE':
    case 'COMPOSITE': {
      const ref = items(item['ReferencedSOPSequence'])[0];
      return ref ? `${text(ref['ReferencedSOPClassUID'])} / ${text(ref['ReferencedSOPInstanceUID'])}` : '';
    }
    case 'CONTAINER':
      return text(item['ContinuityOfContent']) === 'CONTINUOUS' ? '(continuous)' : '';
    default:
      return '';
  }
}

function code(read: ReadCode | undefined): string {
  return read ? `${read.meaning} (${read.value}, ${read.scheme})` : '';
}

/** A sequence's items; dcmjs gives a sequence as an array, a lone item sometimes as an object. */
function items(value: unknown): NaturalDataset[] {
  if (Array.isArray(value)) return value.filter((v): v is NaturalDataset => typeof v === 'object' && v !== null);
  return typeof value === 'object' && value !== null ? [value as NaturalDataset] : [];
}

/** One string value (dcmjs gives some as one-element arrays, person names as objects). */
function text(value: unknown): string {
  const single: unknown = Array.isArray(value) ? value[0] : value;
  if (typeof single === 'string') return single;
  if (typeof single === 'number') return String(single);
  if (typeof single === 'object' && single !== null && 'Alphabetic' in single) return String((single as { Alphabetic: unknown }).Alphabetic);
  return '';
}
