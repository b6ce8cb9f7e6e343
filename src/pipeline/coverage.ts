/**
 * Which instances a finished run covered, so that a study that grows after it is done (images
 * pushed late) is noticed and processed again. Kept in the study's status; compared by series so
 * that nothing arriving during the run is mistaken for something the run saw.
 */
import type { OrthancClient } from '../orthanc/client.js';
import type { StudyFacts } from '../study/facts.js';
import type { StepOutcome } from './approaches.js';

/** One series as the run saw it. */
export interface SeriesCoverage {
  readonly id: string;
  readonly instances: number;
}

/** The series (and instance counts) a run read, and the series it wrote into. */
export interface StudyCoverage {
  readonly series: readonly SeriesCoverage[];
  readonly outputs: readonly string[];
}

/** The coverage of a run: the facts it read and the series its outcomes wrote into. */
export function coverageOf(facts: StudyFacts, outcomes: readonly StepOutcome[]): StudyCoverage {
  return {
    series: facts.series.map((s) => ({ id: s.orthancId, instances: s.instances.length })),
    outputs: [...new Set(outcomes.flatMap((o) => o.outputSeries ?? []))],
  };
}

/** A coverage read back from a status written by anybody: undefined unless it has the right shape. */
export function readCoverage(value: unknown): StudyCoverage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { series, outputs } = value as { series?: unknown; outputs?: unknown };
  if (!Array.isArray(series) || !Array.isArray(outputs) || !outputs.every((o) => typeof o === 'string')) return undefined;
  const good = series.every((s: unknown) => typeof s === 'object' && s !== null && typeof (s as SeriesCoverage).id === 'string' && Number.isInteger((s as SeriesCoverage).instances));
  return good ? { series: series as SeriesCoverage[], outputs: outputs as string[] } : undefined;
}

/**
 * Modalities of series that carry no images to copy or reference: a SEG, another system's SR, a key
 * object or a presentation state pushed into a done study is not growth (a SEG has its own trigger).
 */
const NOT_IMAGES: ReadonlySet<string> = new Set(['SEG', 'SR', 'KO', 'PR', 'RTSTRUCT', 'RTPLAN', 'DOC']);

/**
 * How the study grew since the run that left `coverage`: instances added to a series it read, or
 * a series that is neither one it read nor one it wrote. Undefined when it did not grow.
 */
export async function growthSince(client: OrthancClient, studyId: string, coverage: StudyCoverage): Promise<string | undefined> {
  const seen = new Map(coverage.series.map((s) => [s.id, s.instances]));
  const ours = new Set(coverage.outputs);
  const changes: string[] = [];
  for (const series of await client.studySeries(studyId)) {
    if (ours.has(series.ID) || NOT_IMAGES.has(series.MainDicomTags['Modality'] ?? '')) continue;
    const before = seen.get(series.ID);
    if (before === undefined) changes.push(`new series ${series.ID} (${series.Instances.length} instances)`);
    else if (series.Instances.length > before) changes.push(`${series.Instances.length - before} new instance(s) in series ${series.ID}`);
  }
  return changes.length > 0 ? changes.join(', ') : undefined;
}
