import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import got from 'got';
import nock from 'nock';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildKidneyVolumeBundle } from '../../src/fhir/bundle.js';
import { FhirServerError } from '../../src/fhir/errors.js';
import { serializeResource } from '../../src/fhir/serialize.js';
import { postTransaction, toTransaction } from '../../src/fhir/transaction.js';
import { formatIssues, loadFhirDefinitions, validateFhirResource } from '../helpers/fhir-validate.js';
import { KIDNEYS, NOW, SR, STUDY_UID, studyFacts } from './fixtures.js';

const BASE = 'http://fhir.test';
const transaction = () => toTransaction(buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW, sr: SR }));

function transactionResponse(sent: Bundle, status: string): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'transaction-response',
    entry: (sent.entry ?? []).map((e, i): BundleEntry => ({ response: { status, location: `${e.resource?.resourceType}/${i + 1}/_history/1` } })),
  };
}

beforeAll(() => {
  nock.disableNetConnect();
  loadFhirDefinitions();
}, 60_000);
afterAll(() => nock.enableNetConnect());
afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending).toEqual([]);
});

describe('toTransaction', () => {
  it('makes Patient and ImagingStudy conditional creates and each Observation a conditional update by its identifier, and stays valid R4', () => {
    const tx = transaction();
    expect(tx.type).toBe('transaction');
    expect(tx.entry?.map((e) => e.request)).toEqual([
      { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:oid:1.2.3.4|PAT-001' },
      { method: 'POST', url: 'ImagingStudy', ifNoneExist: `identifier=urn:dicom:uid|urn:oid:${STUDY_UID}` },
      ...(tx.entry ?? []).slice(2).map((e) => ({
        method: 'PUT',
        url: `Observation?identifier=urn:kidney-volumes:observation|${e.fullUrl?.slice('urn:uuid:'.length)}`,
      })),
    ]);
    expect(formatIssues(validateFhirResource(tx))).toBe('');
  });

  it('escapes search syntax and URL syntax in identifier values', () => {
    const tx = toTransaction(buildKidneyVolumeBundle(studyFacts({}, { patientId: 'A|B,C$ D&E', issuerOfPatientId: '' }), KIDNEYS, { now: NOW }));
    expect(tx.entry?.[0]?.request?.ifNoneExist).toBe('identifier=urn:dicom:patient-id|A%5C|B%5C%2CC%5C%24%20D%26E');
    expect(new URLSearchParams(tx.entry?.[0]?.request?.ifNoneExist).get('identifier')).toBe('urn:dicom:patient-id|A\\|B\\,C\\$ D&E');
  });
});

describe('postTransaction', () => {
  it('posts exactly the transaction Bundle with the bearer token, and reports what was created', async () => {
    const tx = transaction();
    const expected = JSON.parse(serializeResource(tx)) as Bundle;
    nock(BASE)
      .matchHeader('authorization', 'Bearer s3cret')
      .matchHeader('content-type', 'application/fhir+json')
      .post('/fhir', (body: Bundle) => {
        expect(body).toEqual(expected);
        expect(body.entry?.every((e) => e.request?.ifNoneExist?.startsWith('identifier=') || e.request?.url.startsWith('Observation?identifier='))).toBe(true);
        return true;
      })
      .reply(200, transactionResponse(tx, '201 Created'));
    const result = await postTransaction(`${BASE}/fhir/`, tx, { token: 's3cret' });
    expect(result.created).toBe(5);
    expect(result.entries.map((e) => [e.resourceType, e.created])).toEqual([
      ['Patient', true],
      ['ImagingStudy', true],
      ['Observation', true],
      ['Observation', true],
      ['Observation', true],
    ]);
  });

  it('sends the serialised Bundle byte for byte, volumes with their decimal precision', async () => {
    const tx = transaction();
    const sent: string[] = [];
    // nock hands matchers parsed JSON; a got hook sees the raw text that goes on the wire.
    const client = got.extend({ hooks: { beforeRequest: [(options) => void sent.push(String(options.body))] } });
    nock(BASE).post('/').reply(200, transactionResponse(tx, '201 Created'));
    await postTransaction(BASE, tx, { got: client });
    expect(sent).toEqual([serializeResource(tx)]);
    expect(sent[0]).toContain('"valueQuantity":{"value":125.0,');
  });

  it('sends no Authorization header without a token, and reports a repeat post as nothing created', async () => {
    const tx = transaction();
    nock(BASE, { badheaders: ['authorization'] }).post('/').reply(200, transactionResponse(tx, '200 OK'));
    const result = await postTransaction(BASE, tx);
    expect(result.created).toBe(0);
    expect(result.entries.every((e) => e.status === '200 OK' && !e.created)).toBe(true);
  });

  it('surfaces the OperationOutcome diagnostics of a refusal', async () => {
    const tx = transaction();
    nock(BASE)
      .post('/')
      .reply(412, {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'duplicate', diagnostics: 'Multiple resources match identifier=urn:oid:1.2.3.4|PAT-001' }],
      });
    const error = await postTransaction(BASE, tx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FhirServerError);
    expect(error).toMatchObject({ status: 412, url: BASE, outcomeText: 'Multiple resources match identifier=urn:oid:1.2.3.4|PAT-001' });
    expect((error as Error).message).toContain('HTTP 412: Multiple resources match');
  });

  it('surfaces details.text of a server error, and the raw body when there is no OperationOutcome', async () => {
    const tx = transaction();
    nock(BASE)
      .post('/')
      .reply(500, { resourceType: 'OperationOutcome', issue: [{ severity: 'fatal', code: 'exception', details: { text: 'database is down' } }] })
      .post('/')
      .reply(502, '<html>Bad Gateway</html>');
    await expect(postTransaction(BASE, tx)).rejects.toThrow(/HTTP 500: database is down/);
    await expect(postTransaction(BASE, tx)).rejects.toMatchObject({ status: 502, outcomeText: '<html>Bad Gateway</html>' });
  });

  it('reports a server that refuses connections as FhirServerError without a status', async () => {
    // A real refused connection (a port just closed): nock's replyWithError leaves got hanging.
    nock.enableNetConnect('127.0.0.1');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const url = `http://127.0.0.1:${port}`;
    await expect(postTransaction(url, transaction())).rejects.toMatchObject({ name: 'FhirServerError', status: undefined, url });
    nock.disableNetConnect();
  });

  it('reports a timeout and an answer that does not match the request as FhirServerError', async () => {
    const tx = transaction();
    nock(BASE).post('/').reply(200, { resourceType: 'Bundle', type: 'transaction-response', entry: [] });
    await expect(postTransaction(BASE, tx)).rejects.toThrow(/with 0 entries for 5 sent/);
    nock(BASE).post('/').delay(500).reply(200, transactionResponse(tx, '201 Created'));
    await expect(postTransaction(BASE, tx, { timeoutMs: 50 })).rejects.toThrow(/did not answer the transaction: Timeout/);
  });

  it('refuses to post a Bundle that is not a transaction', async () => {
    const collection = buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW });
    await expect(postTransaction(BASE, collection)).rejects.toThrow(/must be "transaction"/);
  });
});
