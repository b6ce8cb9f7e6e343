/**
 * The kidney-volumes command line: attach, verify, sidecar, and the interactive menu. Each command
 * imports its modules when it runs, so that `--version`, `--help` and a usage error load only
 * commander (issue 17: the sidecar, express, the menu and the writers cost start-up time and memory).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { EXIT_CODES, UsageError } from '../errors.js';
import type { Config } from '../config.js';
import type { ClaimSettings } from './attach-claimed.js';
import type { FhirDeliveryOptions } from './fhir-delivery.js';
import { processOutput, type Output } from './io.js';
import { once, type MeasurementOptions } from './measurement-options.js';

/** Options of attach as commander parses them. */
interface AttachOptions extends MeasurementOptions, FhirDeliveryOptions {
  readonly approach: string;
  readonly json?: boolean;
  readonly batch?: string;
}


/** Runs the CLI with the given arguments (without node and script); answers the exit code. */
export async function runCli(argv: readonly string[], io: Output = processOutput, env = process.env): Promise<number> {
  const json = argv.includes('--json');
  let exitCode: number = EXIT_CODES.ok;
  const program = new Command('kidney-volumes')
    .description('Writes kidney volume measurements into Orthanc studies as DICOM SR, FHIR R4 Observations and private tags.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError('(run kidney-volumes --help for usage)');

  withMeasurementFlags(
    program
      .command('attach')
      .description('write measurements into a study (Orthanc study ID or StudyInstanceUID)')
      .argument('[study]', 'Orthanc study ID or StudyInstanceUID (not with --batch)')
      .option('--batch <file>', 'every row of a CSV or JSON-lines file (see the README), - for stdin'),
  )
    .addOption(new Option('--approach <approach>', 'sr, fhir, private or all (or a comma list)').default('all'))
    .option('--fhir-out <file>', 'also write the FHIR Bundle to this file as JSON')
    .option('--fhir-server <base-url>', 'also post the Bundle to this FHIR server as a transaction (token from KV_FHIR_TOKEN)')
    .option('--json', 'print a machine-readable summary')
    .action(async (study: string | undefined, options: AttachOptions) => {
      const { parseApproaches } = await import('../pipeline/approaches.js');
      const { contextOf } = await import('./context.js');
      if (options.batch !== undefined) {
        const [{ checkBatchOptions, runBatch }, { readBatchFile }] = await Promise.all([import('./batch.js'), import('./batch-file.js')]);
        checkBatchOptions(study, options);
        const [file, approaches] = [readBatchFile(options.batch), parseApproaches(options.approach)];
        const { config, client, settings } = contextOf(env);
        exitCode = await runBatch({ client, settings, now: () => new Date(), io, json, claim: claimSettings(config) }, file, approaches);
        return;
      }
      if (study === undefined) throw new UsageError('attach needs a <study> (Orthanc study ID or StudyInstanceUID), or --batch <file>');
      const [{ measurementsFromOptions }, { checkFhirDelivery, deliverFhir }, { attachClaimed }, { printAttach }, { progressReporter }, { silentLogger }] = await Promise.all([
        import('./measurement-options.js'),
        import('./fhir-delivery.js'),
        import('./attach-claimed.js'),
        import('./output.js'),
        import('./progress.js'),
        import('../logger.js'),
      ]);
      const measurements = measurementsFromOptions(options);
      const approaches = parseApproaches(options.approach);
      checkFhirDelivery(options, approaches);
      const { config, client, settings } = contextOf(env);
      // The study's status is the one owner of its current version: attach claims it like the sidecar (issue 14).
      const report = await attachClaimed(
        {
          client,
          settings,
          now: () => new Date(),
          log: silentLogger,
          ...claimSettings(config),
          progress: progressReporter(io),
          waiting: (owner, until) => io.err(`waiting for ${owner}, which holds the study${until ? ` until ${until}` : ''}`),
        },
        study,
        measurements,
        approaches,
      );
      printAttach(report, json, io, await deliverFhir(report, options, config.fhirToken));
    });

  withMeasurementFlags(
    program
      .command('mark')
      .description('set (or correct) the measurements of a study; the running sidecar writes the outputs (compare-and-set, like the HTTP API)')
      .argument('<study>', 'Orthanc study ID or StudyInstanceUID'),
  )
    .option('--json', 'print a machine-readable summary')
    .action(async (study: string, options: MeasurementOptions) => {
      const [{ contextOf }, { measurementsFromOptions }, { markTextOf, writePersonMark }] = await Promise.all([
        import('./context.js'),
        import('./measurement-options.js'),
        import('../inputs/person-mark.js'),
      ]);
      const set = measurementsFromOptions(options);
      const { studyId, outcome } = await writePersonMark(contextOf(env).client, study, markTextOf(set), set, 'cli', new Date());
      if (json) {
        io.out(JSON.stringify({ ok: true, command: 'mark', studyId, outcome, digest: set.digest, measurements: set.measurements }));
        return;
      }
      const what = outcome === 'unchanged' ? 'already marked with these measurements' : outcome === 'replaced' ? 'mark replaced (a new version)' : 'marked';
      io.out(`Study ${studyId}: ${what}: ${set.measurements.map((m) => `${m.name} ${m.valueMl} mL`).join(', ')}`);
      io.out(`The running sidecar writes the SR, FHIR and private tags; check with "kidney-volumes verify ${studyId}".`);
    });

  program
    .command('verify')
    .description('read back and report what is stored for a study')
    .argument('<study>', 'Orthanc study ID or StudyInstanceUID')
    .addOption(new Option('--approach <approach>', 'outputs that must be there: sr, fhir, private or all (or a comma list)').default('all'))
    .option('--json', 'print a machine-readable summary')
    .action(async (study: string, options: { approach: string }) => {
      const [{ contextOf }, { verify }, { printVerify }, { parseApproaches }] = await Promise.all([
        import('./context.js'),
        import('../pipeline/verify.js'),
        import('./output.js'),
        import('../pipeline/approaches.js'),
      ]);
      const expected = parseApproaches(options.approach);
      exitCode = printVerify(await verify(contextOf(env).client, study, expected), json, io);
    });

  program
    .command('sidecar')
    .description('follow Orthanc and attach pending measurements automatically, with the HTTP API')
    .option('--from-beginning', "on a first start, read Orthanc's changes log from its beginning instead of its current head")
    .action(async (options: { fromBeginning?: boolean }) => {
      const [{ contextOf }, { runSidecar }, { checkSidecarFolders }] = await Promise.all([import('./context.js'), import('../sidecar/run.js'), import('../config.js')]);
      const { config, client, settings } = contextOf(env);
      checkSidecarFolders(config);
      await runSidecar(config, client, settings, { fromBeginning: options.fromBeginning === true });
    });

  program
    .command('retry')
    .description('process a failed or stuck study again (the running sidecar picks it up)')
    .argument('<study>', 'Orthanc study ID or StudyInstanceUID')
    .option('--json', 'print a machine-readable summary')
    .action(async (study: string) => {
      const [{ contextOf }, { requestRetry }] = await Promise.all([import('./context.js'), import('../status/requeue.js')]);
      const client = contextOf(env).client;
      const studyId = await client.resolveStudy(study);
      const { previous } = await requestRetry(client, studyId, new Date());
      if (json) io.out(JSON.stringify({ ok: true, command: 'retry', studyId, previous }));
      else io.out(`Study ${studyId} queued again (was ${previous}); the sidecar processes it at its next look.`);
    });

  program
    .command('migrate')
    .description("make the original tool's KidneyVolInfo private tags in stored images the studies' measurements, and write the SR and FHIR")
    .argument('[study...]', 'Orthanc study IDs or StudyInstanceUIDs (or --all)')
    .option('--all', 'every study in Orthanc')
    .option('--mark-only', 'only write the pending marks; the running sidecar writes the outputs')
    .option('--json', 'print a machine-readable summary')
    .action(async (studies: string[], options: { all?: boolean; markOnly?: boolean }) => {
      const [{ contextOf }, { runMigrate }] = await Promise.all([import('./context.js'), import('./migrate.js')]);
      const { config, client, settings } = contextOf(env);
      const deps = { client, settings, approaches: config.approaches, leaseMs: config.leaseMs, now: () => new Date(), io, json, markOnly: options.markOnly === true };
      exitCode = await runMigrate(deps, studies, options.all === true);
    });

  program
    .command('menu', { hidden: true })
    .description('interactive menu (the default in a terminal)')
    .action(async () => {
      const [{ contextOf }, { runMenu }] = await Promise.all([import('./context.js'), import('./menu.js')]);
      const { config, client, settings } = contextOf(env);
      exitCode = await runMenu({ client, settings, io, claim: claimSettings(config) });
    });

  try {
    if (argv.length === 0 && !(process.stdin.isTTY && process.stdout.isTTY)) {
      io.err(program.helpInformation().trimEnd());
      return EXIT_CODES.usage;
    }
    await program.parseAsync(argv.length === 0 ? ['menu'] : [...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
    }
    const { printError } = await import('./output.js');
    return printError(error, json, io);
  }
}

/** The claim settings of the configuration, which attach, batch and the menu share with the sidecar. */
function claimSettings(config: Pick<Config, 'leaseMs' | 'maxAttempts' | 'retryBaseMs'>): ClaimSettings {
  return { leaseMs: config.leaseMs, maxAttempts: config.maxAttempts, retryBaseMs: config.retryBaseMs };
}

/** The measurement flags attach and mark share: one way to give measurements on the command line. */
function withMeasurementFlags(command: Command): Command {
  return command
    .option('--right <mL>', 'right kidney volume (mL unless a unit is given)', once('--right'))
    .option('--left <mL>', 'left kidney volume (mL unless a unit is given)', once('--left'))
    .option('--total <mL>', 'total volume of both kidneys (mL unless a unit is given)', once('--total'))
    .option('--measure <name=value>', 'any named volume, mL unless a unit is given, e.g. "Spleen=180 ml" (repeatable)', collect, [])
    .option('--right-dims <LxWxD unit>', 'right kidney length, width and depth, e.g. 11.2x5.1x4.8cm: the volume is their ellipsoid', once('--right-dims'))
    .option('--left-dims <LxWxD unit>', 'left kidney length, width and depth, e.g. 10.9x5.0x4.6cm', once('--left-dims'))
    .option('--measure-dims <name=LxWxD unit>', 'diameters of any named volume, e.g. "Spleen=11x5x4 cm" (repeatable)', collect, [])
    .option('--from-json <file|->', 'measurements as JSON (map or structured form), - for stdin', once('--from-json'));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The package version, from package.json next to dist/. */
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
