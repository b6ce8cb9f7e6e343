/**
 * SR content items (PS3.3 section C.17.3, Document Content Macro) as naturalized dcmjs datasets.
 * Only the value types a TID 1500 report needs; every concept comes in as a CodedConcept.
 */
import type { CodedConcept } from '../codes.js';
import type { NaturalDataset } from '../part10.js';

/** Relationship types we write (PS3.3 section C.17.3.2.4). */
export type RelationshipType = 'CONTAINS' | 'HAS OBS CONTEXT' | 'HAS CONCEPT MOD';

/** Value types we write and read (PS3.3 Table C.17.3-1). */
export type ValueType = 'CONTAINER' | 'CODE' | 'NUM' | 'TEXT' | 'UIDREF';

/** One content item, ready to sit in a ContentSequence. */
export type ContentItem = NaturalDataset;

/** Converts a coded concept into one Code Sequence item (PS3.3 Table 8.8-1); the only place that spells its keywords. */
export function codeSequenceItem(concept: CodedConcept): NaturalDataset {
  return { CodeValue: concept.value, CodingSchemeDesignator: concept.scheme, CodeMeaning: concept.meaning };
}

/** A code as read from a dataset: any scheme, unchecked, since other writers' documents are read too. */
export interface ReadCode {
  readonly value: string;
  readonly scheme: string;
  readonly meaning: string;
}

/** Reads the first item of a Code Sequence, or undefined when the sequence is absent or empty. */
export function readCodeSequence(sequence: unknown): ReadCode | undefined {
  const first = Array.isArray(sequence) ? (sequence[0] as NaturalDataset | undefined) : undefined;
  if (!first || typeof first !== 'object') return undefined;
  const text = (value: unknown): string => (typeof value === 'string' ? value : '');
  return { value: text(first.CodeValue), scheme: text(first.CodingSchemeDesignator), meaning: text(first.CodeMeaning) };
}

/** True when a read code is the given concept (value and scheme; the meaning is free text). */
export function isConcept(code: ReadCode | undefined, concept: CodedConcept): boolean {
  return code !== undefined && code.value === concept.value && code.scheme === concept.scheme;
}

/** A one-item Code Sequence, the shape every code attribute takes. */
export function codeSequence(concept: CodedConcept): NaturalDataset[] {
  return [codeSequenceItem(concept)];
}

/** A CONTAINER item; without a relationship it is the document root, whose attributes merge into the dataset. */
export function containerItem(
  concept: CodedConcept,
  children: readonly ContentItem[],
  options: { relationship?: RelationshipType; templateId?: string } = {},
): ContentItem {
  return {
    ...relationshipOf(options.relationship),
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: codeSequence(concept),
    ContinuityOfContent: 'SEPARATE',
    // DCMR is the mapping resource of the templates in PS3.16.
    ...(options.templateId ? { ContentTemplateSequence: [{ MappingResource: 'DCMR', TemplateIdentifier: options.templateId }] } : {}),
    ContentSequence: [...children],
  };
}

/** A CODE item; children (e.g. a laterality) modify it. */
export function codeItem(
  relationship: RelationshipType,
  concept: CodedConcept,
  value: CodedConcept,
  children: readonly ContentItem[] = [],
): ContentItem {
  return {
    RelationshipType: relationship,
    ValueType: 'CODE',
    ConceptNameCodeSequence: codeSequence(concept),
    ConceptCodeSequence: codeSequence(value),
    ...(children.length > 0 ? { ContentSequence: [...children] } : {}),
  };
}

/** A NUM item with one measured value; the value is written as DS exactly as given (see `toDecimalString`). */
export function numItem(relationship: RelationshipType, concept: CodedConcept, value: string, unit: CodedConcept): ContentItem {
  return {
    RelationshipType: relationship,
    ValueType: 'NUM',
    ConceptNameCodeSequence: codeSequence(concept),
    MeasuredValueSequence: [{ MeasurementUnitsCodeSequence: codeSequence(unit), NumericValue: toDecimalString(value) }],
  };
}

/** A TEXT item. */
export function textItem(relationship: RelationshipType, concept: CodedConcept, text: string): ContentItem {
  if (text.length === 0) throw new Error(`TEXT item "${concept.meaning}" needs a non-empty value`);
  return { RelationshipType: relationship, ValueType: 'TEXT', ConceptNameCodeSequence: codeSequence(concept), TextValue: text };
}

/** A UIDREF item. */
export function uidrefItem(relationship: RelationshipType, concept: CodedConcept, uid: string): ContentItem {
  return { RelationshipType: relationship, ValueType: 'UIDREF', ConceptNameCodeSequence: codeSequence(concept), UID: uid };
}

/** DS allows 16 characters (PS3.5 Table 6.2-1). */
const DS_MAX_LENGTH = 16;
const PLAIN_DECIMAL = /^-?(\d+)(?:\.(\d+))?$/;

/**
 * The decimal string as a DS value, keeping every digit: as given when it fits in 16 characters,
 * else in exponent form (which only helps for values with many leading or trailing zeros).
 * Throws rather than round, because a rounded volume would be a different measurement.
 */
export function toDecimalString(decimal: string): string {
  const match = PLAIN_DECIMAL.exec(decimal);
  if (!match) throw new Error(`a numeric value must be a plain decimal like "125.5", got "${decimal}"`);
  if (decimal.length <= DS_MAX_LENGTH) return decimal;
  const exponential = toExponentForm(decimal.startsWith('-') ? '-' : '', match[1] ?? '', match[2] ?? '');
  if (exponential.length <= DS_MAX_LENGTH) return exponential;
  throw new Error(
    `a numeric value must fit in ${DS_MAX_LENGTH} characters as DICOM DS without rounding, got "${decimal}" (${decimal.length} characters)`,
  );
}

/** Exponent form with the same significant digits, e.g. "0.000000000001250" becomes "1.250E-12". */
function toExponentForm(sign: string, integer: string, fraction: string): string {
  const digits = `${integer}${fraction}`;
  const first = digits.search(/[1-9]/);
  if (first < 0) return `${sign}0`;
  // Trailing zeros of a whole number carry no stated precision; trailing zeros of a fraction do.
  const significant = fraction.length > 0 ? digits.slice(first) : digits.slice(first).replace(/0+$/, '') || '0';
  const exponent = integer.length - 1 - first;
  const mantissa = significant.length > 1 ? `${significant[0]}.${significant.slice(1)}` : significant;
  return `${sign}${mantissa}E${exponent}`;
}

function relationshipOf(relationship: RelationshipType | undefined): NaturalDataset {
  return relationship ? { RelationshipType: relationship } : {};
}
