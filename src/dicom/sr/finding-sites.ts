/**
 * Finding sites of the anatomies we can code (TID 1501 rows 6-7): a SNOMED CT structure, and a
 * laterality when the structure itself is not sided (both kidneys are "Kidney" + "Bilateral").
 */
import { SCT, type CodedConcept } from '../codes.js';
import { ANATOMIES, type Anatomy } from '../../measurements/model.js';

/** A finding site and the laterality that modifies it, if any. */
export interface FindingSite {
  readonly site: CodedConcept;
  readonly laterality?: CodedConcept;
}

const FINDING_SITES: Readonly<Record<Anatomy, FindingSite>> = {
  'right-kidney': { site: SCT.RightKidney },
  'left-kidney': { site: SCT.LeftKidney },
  'both-kidneys': { site: SCT.Kidney, laterality: SCT.Bilateral },
  spleen: { site: SCT.Spleen },
  liver: { site: SCT.Liver },
};

/** Sided kidneys other writers may express as "Kidney" plus a laterality (DOMAIN.md); we read both forms. */
const KIDNEY_BY_LATERALITY: Readonly<Record<string, Anatomy>> = {
  [SCT.Right.value]: 'right-kidney',
  [SCT.Left.value]: 'left-kidney',
  [SCT.Bilateral.value]: 'both-kidneys',
};

/** The coded finding site of an anatomy. */
export function findingSiteOf(anatomy: Anatomy): FindingSite {
  return FINDING_SITES[anatomy];
}

/** The anatomy a SNOMED CT finding site (and laterality) codes, or undefined when it is none of ours. */
export function anatomyOf(siteValue: string, lateralityValue?: string): Anatomy | undefined {
  if (siteValue === SCT.Kidney.value && lateralityValue !== undefined) return KIDNEY_BY_LATERALITY[lateralityValue];
  return ANATOMIES.find((anatomy) => {
    const known = FINDING_SITES[anatomy];
    return known.site.value === siteValue && known.laterality?.value === lateralityValue;
  });
}
