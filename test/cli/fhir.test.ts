import type { Bundle, Observation, OperationOutcome } from '@medplum/fhirtypes';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../src/errors.js';
import { observationUuid } from '../../src/fhir/identity.js';
import { validateFhirResource } from '../helpers/fhir-validate.js';
import { startFhirServer, type TestFhirServer } from '../helpers/fhir-server.js';
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
      // The search for our Observations before the transaction: this stub holds none.
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/fhir+json' });
        res.end(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', total: 0 }));
        return;
      }
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

  it('searches for the Observations, then posts a transaction (conditional creates, conditional updates) with the token and prints what the server created', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1, { id: 'PID-CLI-2' }));
    received.length = 0;
    answer = transactionResponse('201 Created');
    const run = await runCli(['attach', study.studyInstanceUid, ...KIDNEY_FLAGS, '--fhir-server', fhirBase], cliEnv());
    expect(run.stderr).toBe('');
    expect(run.code).toBe(EXIT_CODES.ok);
    expect(run.stdout).toContain(`fhir: FHIR server ${fhirBase}: 4 created, 0 updated, 0 already there`);

    expect(received).toHaveLength(2);
    const [search, request] = received;
    const ids = ['right-kidney', 'left-kidney'].map((a) => observationUuid([study.studyInstanceUid, study.orthancId], `anatomy:${a}`));
    expect(search).toMatchObject({ method: 'GET', url: `/fhir/Observation?identifier=${ids.map((id) => `urn:kidney-volumes:observation|${id}`).join(',')}&_count=50` });
    expect(search?.headers['authorization']).toBe('Bearer fhir-token-123');
    expect(request).toMatchObject({ method: 'POST', url: '/fhir' });
    expect(request?.headers['authorization']).toBe('Bearer fhir-token-123');
    expect(request?.headers['content-type']).toBe('application/fhir+json');
    const transaction = JSON.parse(request?.body ?? '') as Bundle;
    expect(transaction.type).toBe('transaction');
    expect(transaction.entry?.map((e) => [e.request?.method, e.request?.url, e.request?.ifNoneExist])).toEqual([
      ['POST', 'Patient', 'identifier=urn:dicom:patient-id|PID-CLI-2'],
      ['POST', 'ImagingStudy', `identifier=urn:dicom:uid|urn:oid:${study.studyInstanceUid}`],
      ['PUT', `Observation?identifier=urn:kidney-volumes:observation|${ids[0]}`, undefined],
      ['PUT', `Observation?identifier=urn:kidney-volumes:observation|${ids[1]}`, undefined],
    ]);
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

describe('issue 14: attach --fhir-server across versions, with the real CLI, a real Orthanc and an R4 test server', () => {
  let fhir: TestFhirServer;
  beforeAll(async () => {
    fhir = await startFhirServer();
  });
  afterAll(async () => {
    await fhir?.stop();
  });

  /** The server's Observations as [tracking id, id, versionId, status, value]. */
  const onServer = () =>
    (fhir.current('Observation') as (Observation & { id: string })[]).map((o) => [o.identifier?.[1]?.value, o.id, o.meta?.versionId, o.status, o.valueQuantity?.value]);

  it('125/132, the same again, corrected to 130/132, then the left kidney dropped: one resource per measurement, updated in place', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1, { id: 'PID-CLI-V' }));
    const attachFhir = (...flags: string[]) => runCli(['attach', study.studyInstanceUid, ...flags, '--approach', 'fhir', '--fhir-server', fhir.base], cliEnv());

    const first = await attachFhir('--right', '125', '--left', '132');
    expect(first.stderr).toBe('');
    expect(first.stdout).toContain(`fhir: FHIR server ${fhir.base}: 4 created, 0 updated, 0 already there`);
    const created = onServer();
    expect(created.map(([name, , version, status, value]) => [name, version, status, value])).toEqual([
      ['Right Kidney', '1', 'final', 125],
      ['Left Kidney', '1', 'final', 132],
    ]);

    const again = await attachFhir('--right', '125', '--left', '132');
    expect(again.stdout).toContain('fhir: already present, verified');
    expect(again.stdout).toContain(`fhir: FHIR server ${fhir.base}: 0 created, 0 updated, 4 already there`);
    expect(onServer()).toEqual(created);

    const corrected = await attachFhir('--right', '130', '--left', '132');
    expect(corrected.stderr).toBe('');
    expect(corrected.stdout).toContain(`fhir: FHIR server ${fhir.base}: 0 created, 1 updated, 3 already there`);
    expect(onServer()).toEqual([['Right Kidney', created[0]?.[1], '2', 'amended', 130], created[1]]);
    // What Orthanc stores says the same: same identifiers as on the server, the left kidney final with its first issued.
    const stored = JSON.parse((await orthanc.client.studyMetadata(study.orthancId, 'KidneyVolumes'))?.value ?? '') as Bundle;
    expect(validateFhirResource(stored)).toEqual([]);
    const storedObs = (stored.entry ?? []).map((e) => e.resource as Observation);
    const serverObs = fhir.current('Observation') as Observation[];
    expect(storedObs.slice(2).map((o) => [o.identifier?.[0]?.value, o.status, o.issued])).toEqual(serverObs.map((o) => [o.identifier?.[0]?.value, o.status, o.issued]));
    expect(storedObs[3]?.issued).toBe((fhir.history('Observation', created[1]?.[1] as string)[0] as Observation).issued);

    const dropped = await attachFhir('--right', '130');
    expect(dropped.stdout).toContain(`fhir: FHIR server ${fhir.base}: 0 created, 1 updated, 3 already there`);
    expect(onServer()).toEqual([
      ['Right Kidney', created[0]?.[1], '2', 'amended', 130],
      ['Left Kidney', created[1]?.[1], '2', 'entered-in-error', 132],
    ]);
    expect(fhir.current('Patient')).toHaveLength(1);
  });
});
