/** The interactive menu, like the original tool's: pick a study, enter volumes, choose the approach. */
import { input, select } from '@inquirer/prompts';
import { EXIT_CODES, KidneyVolumesError } from '../errors.js';
import { DEFAULT_NAMES } from '../measurements/anatomy.js';
import { buildSet, type MeasurementInput } from '../measurements/parse.js';
import type { OrthancClient } from '../orthanc/client.js';
import { APPROACHES, APPROACH_TITLES, type Approach, type WriterSettings } from '../pipeline/approaches.js';
import { attach } from '../pipeline/attach.js';
import { printAttach, printError, type Output } from './output.js';
import { progressReporter } from './progress.js';

/** What the menu needs. */
export interface MenuDeps {
  readonly client: OrthancClient;
  readonly settings: WriterSettings;
  readonly io: Output;
}

/** Runs the menu once; answers the exit code (the same outcomes as the flags). */
export async function runMenu(deps: MenuDeps): Promise<number> {
  try {
    const studies = await deps.client.studies(200);
    if (studies.length === 0) {
      deps.io.err('Orthanc holds no studies yet: send one (storescu, or upload in Orthanc Explorer) and run again.');
      return EXIT_CODES['not-found'];
    }
    const studyId = await select({
      message: 'Study',
      choices: studies.map((s) => ({
        value: s.ID,
        name: `${s.PatientMainDicomTags['PatientName'] || '(no name)'}  ${s.MainDicomTags['StudyDate'] ?? ''}  ${s.MainDicomTags['StudyDescription'] ?? ''}  [${s.Series.length} series]`,
      })),
      pageSize: 15,
    });
    const inputs: MeasurementInput[] = [];
    for (const key of ['right', 'left', 'total'] as const) {
      const text = await input({ message: `${DEFAULT_NAMES[key]} volume in mL (empty to skip)`, validate: volumeValidator(DEFAULT_NAMES[key]) });
      if (text.trim() !== '') inputs.push({ name: DEFAULT_NAMES[key], value: `${text.trim()} mL` });
    }
    const measurements = buildSet(inputs);
    const choice = await select<Approach | 'all'>({
      message: 'Approach',
      choices: [
        ...APPROACHES.map((a, i) => ({ value: a, name: `${i + 1}. ${APPROACH_TITLES[a]}` })),
        { value: 'all' as const, name: `${APPROACHES.length + 1}. all of them` },
      ],
    });
    const report = await attach(
      { client: deps.client, settings: deps.settings, now: () => new Date(), progress: progressReporter(deps.io) },
      studyId,
      measurements,
      choice === 'all' ? [...APPROACHES] : [choice],
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
