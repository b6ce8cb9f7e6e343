/**
 * The interactive menu for radiographers: find the study (by name, patient ID, accession or date,
 * newest first, page by page), enter the volumes, choose what to write, confirm, write.
 */
import { confirm, input, select, Separator } from '@inquirer/prompts';
import { EXIT_CODES, KidneyVolumesError } from '../errors.js';
import { DEFAULT_NAMES } from '../measurements/anatomy.js';
import { buildSet, type MeasurementInput } from '../measurements/parse.js';
import type { MeasurementSet } from '../measurements/model.js';
import type { OrthancClient } from '../orthanc/client.js';
import { APPROACHES, APPROACH_TITLES, type Approach, type WriterSettings } from '../pipeline/approaches.js';
import { silentLogger } from '../logger.js';
import { attachClaimed, type ClaimSettings } from './attach-claimed.js';
import { measurementLines, printAttach, printError, type Output } from './output.js';
import { progressReporter } from './progress.js';
import { describeRows, rowLabel, searchStudies, type DescribedRow } from './study-search.js';

/** What the menu needs. */
export interface MenuDeps {
  readonly client: OrthancClient;
  readonly settings: WriterSettings;
  readonly io: Output;
  /** The write goes through the study's status like attach (issue 14: the status owns the current version). */
  readonly claim: ClaimSettings;
}

/** Studies per page of the picker: fits a 24-line terminal with the prompt and the page links. */
const PAGE_SIZE = 10;

/** What each volume prompt asks (the measurement names stay the CLI's). */
const VOLUME_PROMPTS: Readonly<Record<keyof typeof DEFAULT_NAMES, string>> = {
  right: 'Right kidney volume in mL',
  left: 'Left kidney volume in mL',
  total: 'Total volume of both kidneys in mL',
};

type Pick = { kind: 'study'; row: DescribedRow } | { kind: 'page'; page: number } | { kind: 'search' };

/** Runs the menu once; answers the exit code (the same outcomes as the flags). */
export async function runMenu(deps: MenuDeps): Promise<number> {
  try {
    const row = await pickStudy(deps);
    if (row === undefined) return EXIT_CODES['not-found'];
    const measurements = await askVolumes(deps.io);
    const choice = await select<Approach | 'all'>({
      message: 'What to write',
      // The CLI's default (--approach all) is the menu's too.
      default: 'all',
      choices: [
        { value: 'all' as const, name: `all of them (${APPROACHES.join(', ')})` },
        ...APPROACHES.map((a) => ({ value: a, name: APPROACH_TITLES[a] })),
      ],
    });
    const approaches = choice === 'all' ? [...APPROACHES] : [choice];
    deps.io.out(summary(row, measurements, approaches));
    if (!(await confirm({ message: 'Write these measurements into this study?', default: true }))) {
      deps.io.err('nothing written');
      return EXIT_CODES.usage;
    }
    const report = await attachClaimed(
      { client: deps.client, settings: deps.settings, now: () => new Date(), log: silentLogger, ...deps.claim, progress: progressReporter(deps.io) },
      row.id,
      measurements,
      approaches,
    );
    printAttach(report, false, deps.io);
    return EXIT_CODES.ok;
  } catch (error) {
    if (error instanceof Error && error.name === 'ExitPromptError') {
      deps.io.err('cancelled');
      return EXIT_CODES.usage;
    }
    if (error instanceof KidneyVolumesError || error instanceof Error) return printError(error, false, deps.io);
    throw error;
  }
}

/** Search, then a page of rows with links to the other pages; answers undefined when Orthanc holds no study at all. */
async function pickStudy(deps: MenuDeps): Promise<DescribedRow | undefined> {
  for (;;) {
    const text = await input({ message: 'Find the study: patient name, patient ID, accession or date (YYYY-MM-DD, or FROM..TO); empty for all' });
    const rows = await searchStudies(deps.client, text);
    if (rows.length === 0) {
      if (text.trim() === '') {
        deps.io.err('Orthanc holds no studies yet: send one (dcmsend, or upload in Orthanc Explorer) and run again.');
        return undefined;
      }
      deps.io.err(`no study matches "${text.trim()}"`);
      continue;
    }
    let page = 0;
    const pages = Math.ceil(rows.length / PAGE_SIZE);
    for (;;) {
      const shown = await describeRows(deps.client, rows.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE));
      const first = page * PAGE_SIZE + 1;
      const picked = await select<Pick>({
        message: `Study (${first}-${first + shown.length - 1} of ${rows.length}, newest first)`,
        pageSize: PAGE_SIZE + 5,
        loop: false,
        choices: [
          ...shown.map((row) => ({ value: { kind: 'study' as const, row }, name: rowLabel(row), description: row.description })),
          new Separator(),
          ...(page + 1 < pages ? [{ value: { kind: 'page' as const, page: page + 1 }, name: `next page (${page + 2} of ${pages})` }] : []),
          ...(page > 0 ? [{ value: { kind: 'page' as const, page: page - 1 }, name: `previous page (${page} of ${pages})` }] : []),
          { value: { kind: 'search' as const }, name: 'search again' },
        ],
      });
      if (picked.kind === 'study') return picked.row;
      if (picked.kind === 'search') break;
      page = picked.page;
    }
  }
}

/** Asks each volume until at least one is given. */
async function askVolumes(io: Output): Promise<MeasurementSet> {
  for (;;) {
    const inputs: MeasurementInput[] = [];
    for (const key of ['right', 'left', 'total'] as const) {
      const text = await input({ message: `${VOLUME_PROMPTS[key]} (empty to skip)`, validate: volumeValidator(DEFAULT_NAMES[key]) });
      if (text.trim() !== '') inputs.push({ name: DEFAULT_NAMES[key], value: `${text.trim()} mL` });
    }
    if (inputs.length > 0) return buildSet(inputs);
    io.err('enter at least one volume');
  }
}

/** What is about to be written where, for the confirmation. */
function summary(row: DescribedRow, measurements: MeasurementSet, approaches: readonly Approach[]): string {
  return [
    `Study: ${row.patientName || '(no name)'}, patient ID ${row.patientId || '-'}, accession ${row.accession || '-'}, ${row.date || 'no date'}, ${row.modalities.join('/') || '-'}, ${row.images} images`,
    ...measurementLines(measurements.measurements),
    `Writes: ${approaches.map((a) => APPROACH_TITLES[a]).join('; ')}`,
  ].join('\n');
}

function volumeValidator(name: string): (text: string) => string | true {
  return (text) => {
    if (text.trim() === '') return true;
    try {
      buildSet([{ name, value: `${text.trim()} mL` }]);
      return true;
    } catch (error) {
      return (error as Error).message;
    }
  };
}
