/** The kidney-volumes command line: attach, verify, sidecar, and the interactive menu. */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { checkSidecarFolders, loadConfig, type Config } from '../config.js';
import { EXIT_CODES, UsageError } from '../errors.js';
import { OrthancClient } from '../orthanc/client.js';
import { parseApproaches, type WriterSettings } from '../pipeline/approaches.js';
import { requestRetry } from '../sidecar/retry.js';
import { runSidecar } from '../sidecar/run.js';
import { attach } from '../pipeline/attach.js';
import { verify } from '../pipeline/verify.js';
import { checkBatchOptions, runBatch } from './batch.js';
import { readBatchFile } from './batch-file.js';
import { checkFhirDelivery, deliverFhir, type FhirDeliveryOptions } from './fhir-delivery.js';
import { measurementsFromOptions, once, type MeasurementOptions } from './measurement-options.js';
import { printAttach, printError, printVerify, processOutput, type Output } from './output.js';
import { runMenu } from './menu.js';
import { progressReporter } from './progress.js';

/** Options of attach as commander parses them. */
interface AttachOptions extends MeasurementOptions, FhirDeliveryOptions {
  readonly approach: string;
  readonly json?: boolean;
  readonly batch?: string;
}


/** A client for the configured Orthanc. */
export function clientFor(config: Config): OrthancClient {
  return new OrthancClient({
    url: config.orthancUrl,
    ...(config.orthancUsername !== undefined ? { username: config.orthancUsername, password: config.orthancPassword ?? '' } : {}),
    timeoutMs: config.requestTimeoutMs,
    retries: config.retries,
    ...config.orthancTls,
  });
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

  program
    .command('attach')
    .description('write measurements into a study (Orthanc study ID or StudyInstanceUID)')
    .argument('[study]', 'Orthanc study ID or StudyInstanceUID (not with --batch)')
    .option('--batch <file>', 'every row of a CSV or JSON-lines file (see the README), - for stdin')
    .option('--right <mL>', 'right kidney volume (mL unless a unit is given)', once('--right'))
    .option('--left <mL>', 'left kidney volume (mL unless a unit is given)', once('--left'))
    .option('--total <mL>', 'total volume of both kidneys (mL unless a unit is given)', once('--total'))
    .option('--measure <name=value unit>', 'any named volume, e.g. "Spleen=180 ml" (repeatable)', collect, [])
    .option('--from-json <file|->', 'measurements as JSON (map or structured form), - for stdin', once('--from-json'))
    .addOption(new Option('--approach <approach>', 'sr, fhir, private or all (or a comma list)').default('all'))
    .option('--fhir-out <file>', 'also write the FHIR Bundle to this file as JSON')
    .option('--fhir-server <base-url>', 'also post the Bundle to this FHIR server as a transaction (token from KV_FHIR_TOKEN)')
    .option('--json', 'print a machine-readable summary')
    .action(async (study: string | undefined, options: AttachOptions) => {
      if (options.batch !== undefined) {
        checkBatchOptions(study, options);
        const [file, approaches] = [readBatchFile(options.batch), parseApproaches(options.approach)];
        const config = loadConfig(env);
        const deps = { client: clientFor(config), settings: settingsOf(config), now: () => new Date(), io, json };
        exitCode = await runBatch(deps, file, approaches);
        return;
      }
      if (study === undefined) throw new UsageError('attach needs a <study> (Orthanc study ID or StudyInstanceUID), or --batch <file>');
      const measurements = measurementsFromOptions(options);
      const approaches = parseApproaches(options.approach);
      checkFhirDelivery(options, approaches);
      const config = loadConfig(env);
      const client = clientFor(config);
      const report = await attach(
        { client, settings: settingsOf(config), now: () => new Date(), progress: progressReporter(io) },
        study,
        measurements,
        approaches,
      );
      printAttach(report, json, io, await deliverFhir(report, options, config.fhirToken));
    });

  program
    .command('verify')
    .description('read back and report what is stored for a study')
    .argument('<study>', 'Orthanc study ID or StudyInstanceUID')
    .addOption(new Option('--approach <approach>', 'outputs that must be there: sr, fhir, private or all (or a comma list)').default('all'))
    .option('--json', 'print a machine-readable summary')
    .action(async (study: string, options: { approach: string }) => {
      const expected = parseApproaches(options.approach);
      const client = clientFor(loadConfig(env));
      exitCode = printVerify(await verify(client, study, expected), json, io);
    });

  program
    .command('sidecar')
    .description('follow Orthanc and attach pending measurements automatically, with the HTTP API')
    .option('--from-beginning', "on a first start, read Orthanc's changes log from its beginning instead of its current head")
    .action(async (options: { fromBeginning?: boolean }) => {
      const config = loadConfig(env);
      checkSidecarFolders(config);
      await runSidecar(config, clientFor(config), settingsOf(config), { fromBeginning: options.fromBeginning === true });
    });

  program
    .command('retry')
    .description('process a failed or stuck study again (the running sidecar picks it up)')
    .argument('<study>', 'Orthanc study ID or StudyInstanceUID')
    .option('--json', 'print a machine-readable summary')
    .action(async (study: string) => {
      const client = clientFor(loadConfig(env));
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
      const { runMigrate } = await import('./migrate.js');
      const config = loadConfig(env);
      const deps = { client: clientFor(config), settings: settingsOf(config), approaches: config.approaches, leaseMs: config.leaseMs, now: () => new Date(), io, json, markOnly: options.markOnly === true };
      exitCode = await runMigrate(deps, studies, options.all === true);
    });

  program
    .command('menu', { hidden: true })
    .description('interactive menu (the default in a terminal)')
    .action(async () => {
      const config = loadConfig(env);
      exitCode = await runMenu({ client: clientFor(config), settings: settingsOf(config), io });
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
    return printError(error, json, io);
  }
}

function settingsOf(config: Config): WriterSettings {
  return {
    srSeriesNumber: config.srSeriesNumber,
    timeZone: config.timeZone,
    ...(config.uidRoot !== undefined ? { uidRoot: config.uidRoot } : {}),
    ...(config.delivery !== undefined ? { delivery: config.delivery } : {}),
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The package version, from package.json next to dist/. */
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
