import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measurementsFromOptions } from '../../src/cli/measurement-options.js';
import { EXIT_CODES } from '../../src/errors.js';
import { observationUuid } from '../../src/fhir/identity.js';
import { validateFhirResource } from '../helpers/fhir-validate.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { runCli } from '../helpers/cli.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

/** One request the fake FHIR server received. */
interface Received {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** How the FHIR server answers a transaction: HTTP status and body. */
type Answer = (transaction: Bundle) => { status: number; body: unknown };

let server: Server;
let fhirBase: string;
const received: Received[] = [];
let answer: Answer = () => ({ status: 500, body: 'no answer set' });

const orthanc = useOrthanc();
beforeAll(async () => {
  // A real HTTP server stands in for the FHIR server: the CLI is a separate process, so the
  // request goes over the wire exactly as it would to HAPI or Medplum.
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      const { status, body: reply } = answer(JSON.parse(body) as Bundle);
      res.writeHead(status, { 'content-type': 'application/fhir+json' });
      res.end(typeof reply === 'string' ? reply : JSON.stringify(reply));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fhirBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

/** A transaction-response with one entry per request entry, each with the given status. */
const transactionResponse =
  (entryStatus: string): Answer =>
  (transaction) => ({
    status: 200,
    body: {
      resourceType: 'Bundle',
      type: 'transaction-response',
      entry: (transaction.entry ?? []).map((e, i) => ({ response: { status: entryStatus, location: `${e.resource?.resourceType}/${i + 1}/_history/1` } })),
    },
  });

function cliEnv(): Record<string, string> {
  return { ...orthanc.env, KV_STATE_DIR: mkdtempSync(join(tmpdir(), 'kv-state-')), KV_TIMEZONE: 'Europe/Berlin', KV_FHIR_TOKEN: 'fhir-token-123' };
}

const KIDNEY_FLAGS = ['--right', '125', '--left', '132', '--approach', 'fhir'];

describe('attach --fhir-out and --fhir-server with the real CLI', () => {
  it('writes the Bundle to a file as valid, readable FHIR JSON', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1, { id: 'PID-CLI-1' }));
    const file = join(mkdtempSync(join(tmpdir(), 'kv-fhir-')), 'bundle.json');
    const run = await runCli(['attach', study.studyInstanceUid, ...KIDNEY_FLAGS, '--fhir-out', file], cliEnv());
    expect(run.stderr).toBe('');
    expect(run.code).toBe(EXIT_CODES.ok);
    expect(run.stdout).toContain(`fhir: Bundle written to ${file}`);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^\{\n {2}"resourceType": "Bundle",\n/);
    const bundle = JSON.parse(text) as Bundle;
    expect(validateFhirResource(bundle)).toEqual([]);
    expect(text).toContain('"value": "PID-CLI-1"');
    expect(text).toContain(`"value": "urn:oid:${study.studyInstanceUid}"`);
    // The file holds what Orthanc holds, up to layout (and Observation.issued on a re-run).
    const stored = await orthanc.client.studyMetadata(study.orthancId, 'KidneyVolumes');
    expect(JSON.parse(stored?.value ?? '')).toEqual(bundle);
  });

  it('keeps --json output small: the Bundle goes to the file, not to stdout', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const file = join(mkdtempSync(join(tmpdir(), 'kv-fhir-')), 'bundle.json');
    const run = await runCli(['attach', study.studyInstanceUid, ...KIDNEY_FLAGS, '--fhir-out', file, '--json'], cliEnv());
    expect(run.code).toBe(EXIT_CODES.ok);
    const printed = JSON.parse(run.stdout) as { ok: boolean; fhir: { file: string }; outcomes: { details: Record<string, unknown> }[] };
    expect(printed.ok).toBe(true);
    expect(printed.fhir).toEqual({ file });
    expect(printed.outcomes[0]?.details).toMatchObject({ observations: 2 });
    expect(run.stdout).not.toContain('"resourceType"');
  });

  it('posts a conditional-create transaction with the token and prints what the server created', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1, { id: 'PID-CLI-2' }));
    received.length = 0;
    answer = transactionResponse('201 Created');
    const run = await runCli(['attach', study.studyInstanceUid, ...KIDNEY_FLAGS, '--fhir-server', fhirBase], cliEnv());
    expect(run.stderr).toBe('');
    expect(run.code).toBe(EXIT_CODES.ok);
    expect(run.stdout).toContain(`fhir: FHIR server ${fhirBase}: 4 created, 0 already there`);

    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request).toMatchObject({ method: 'POST', url: '/fhir' });
    expect(request?.headers['authorization']).toBe('Bearer fhir-token-123');
    expect(request?.headers['content-type']).toBe('application/fhir+json');
    const transaction = JSON.parse(request?.body ?? '') as Bundle;
    expect(transaction.type).toBe('transaction');
    const digest = measurementsFromOptions({ right: '125', left: '132' }).digest;
    expect(transaction.entry?.map((e) => [e.request?.method, e.request?.url, e.request?.ifNoneExist])).toEqual([
      ['POST', 'Patient', 'identifier=urn:dicom:patient-id|PID-CLI-2'],
      ['POST', 'ImagingStudy', `identifier=urn:dicom:uid|urn:oid:${study.studyInstanceUid}`],
      ['POST', 'Observation', `identifier=urn:kidney-volumes:observation|${observationUuid([study.studyInstanceUid, study.orthancId], 'Right Kidney', digest)}`],
      ['POST', 'Observation', `identifier=urn:kidney-volumes:observation|${observationUuid([study.studyInstanceUid, study.orthancId], 'Left Kidney', digest)}`],
    ]);

    answer = transactionResponse('200 OK');
    const again = await runCli(['attach', study.studyInstanceUid, ...KIDNEY_FLAGS, '--fhir-server', fhirBase], cliEnv());
    expect(again.code).toBe(EXIT_CODES.ok);
    expect(again.stdout).toContain('fhir: already present, verified');
    expect(again.stdout).toContain(`fhir: FHIR server ${fhirBase}: 0 created, 4 already there`);
  });

  it('exits with its own code and quotes the OperationOutcome when the server refuses', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const outcome: OperationOutcome = {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'processing', diagnostics: 'Observation.subject: patient PID-X is not enrolled here' }],
    };
    answer = () => ({ status: 422, body: outcome });
    const run = await runCli(['attach', study.studyInstanceUid, ...KIDNEY_FLAGS, '--fhir-server', fhirBase], cliEnv());
    expect(run.code).toBe(EXIT_CODES['fhir-server']);
    expect(run.code).toBe(11);
    expect(run.stderr).toContain(`FHIR server ${fhirBase} refused the transaction with HTTP 422: Observation.subject: patient PID-X is not enrolled here`);
  });

  it('refuses the FHIR flags without the fhir approach, before writing anything', async () => {
    const run = await runCli(['attach', '1.2.3', '--right', '125', '--approach', 'sr', '--fhir-out', '/tmp/never.json'], cliEnv());
    expect(run.code).toBe(EXIT_CODES.usage);
    expect(run.stderr).toContain('--fhir-out needs the fhir approach (--approach fhir or all), got --approach sr');
  });
});
