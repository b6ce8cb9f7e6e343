// The error taxonomy (failureClass) and the one retry primitive that obeys it.
import { describe, expect, it } from 'vitest';
import { LeaseLostError } from '../src/sidecar/lease.js';
import { DeliveryAttemptError } from '../src/delivery/errors.js';
import { AckRefusedError } from '../src/delivery/hl7/deliver.js';
import { MllpError } from '../src/delivery/hl7/mllp.js';
import {
  failureClass,
  InvalidMeasurementsError,
  KidneyVolumesError,
  NotFoundError,
  OrthancHttpError,
  OrthancUnreachableError,
  RaceLostError,
  type FailureClass,
} from '../src/errors.js';
import { FhirBundleReadError, FhirInputError, FhirServerError } from '../src/fhir/errors.js';
import { attempt, backoffMs, withRetry } from '../src/retry.js';

const http = (status: number): OrthancHttpError => new OrthancHttpError('GET', '/x', status, '', `${status}`);
const errno = (code: string): Error => Object.assign(new Error(code), { code });

const CASES: readonly [string, unknown, FailureClass][] = [
  ['connection refused', new OrthancUnreachableError('http://o', 'connection refused'), 'transient'],
  ['an untrusted TLS certificate', new OrthancUnreachableError('https://o', 'certificate not trusted', false), 'permanent'],
  ['503', http(503), 'transient'],
  ['500', http(500), 'transient'],
  ['409 conflict', http(409), 'transient'],
  ['429', http(429), 'transient'],
  ['400', http(400), 'permanent'],
  ['401', http(401), 'permanent'],
  ['404', http(404), 'permanent'],
  ['a study not found', new NotFoundError('study', 'x'), 'permanent'],
  ['invalid measurements', new InvalidMeasurementsError('bad'), 'permanent'],
  ['a lost race', new RaceLostError('changed'), 'transient'],
  ['a lost lease', new LeaseLostError('s', 'expired'), 'transient'],
  ['another conflict (an SR with our UID but other content)', new KidneyVolumesError('conflict', 'differs'), 'permanent'],
  ['an internal KidneyVolumesError (data we refuse)', new KidneyVolumesError('internal', 'unreadable DICOM'), 'permanent'],
  ['a FHIR input error (empty PatientID)', new FhirInputError('patientId', '', 'must not be empty'), 'permanent'],
  ['an unreadable stored Bundle', new FhirBundleReadError('no Observation'), 'permanent'],
  ['a FHIR server 503', new FhirServerError({ status: 503, url: 'u', outcomeText: '', message: 'm' }), 'transient'],
  ['a FHIR server that is down', new FhirServerError({ status: undefined, url: 'u', outcomeText: '', message: 'm' }), 'transient'],
  ['a FHIR server 422', new FhirServerError({ status: 422, url: 'u', outcomeText: '', message: 'm' }), 'permanent'],
  ['an MLLP timeout', new MllpError('timeout', 'no ACK'), 'transient'],
  ['an HL7 AE', new AckRefusedError({ code: 'AE', controlId: '1', text: '' }), 'transient'],
  ['an HL7 AR', new AckRefusedError({ code: 'AR', controlId: '1', text: '' }), 'permanent'],
  ['a partial C-STORE', new DeliveryAttemptError('1 of 3 refused'), 'transient'],
  ['ECONNRESET from a socket', errno('ECONNRESET'), 'transient'],
  ['EACCES from a folder', errno('EACCES'), 'permanent'],
  ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'x')"), 'bug'],
  ['a plain Error (a DS that does not fit)', new Error('a numeric value must fit in 16 characters'), 'bug'],
  ['a thrown string', 'oops', 'bug'],
];

describe('failureClass', () => {
  for (const [what, error, expected] of CASES) {
    it(`${what} is ${expected}`, () => expect(failureClass(error)).toBe(expected));
  }
});

describe('withRetry and attempt', () => {
  const recorder = () => {
    const delays: number[] = [];
    return { delays, sleep: async (ms: number) => void delays.push(ms) };
  };

  it('retries transient faults with doubling delays, then succeeds', async () => {
    const { delays, sleep } = recorder();
    let calls = 0;
    const value = await withRetry({ attempts: 4, baseMs: 100, sleep }, async () => {
      if (++calls < 3) throw http(503);
      return 'ok';
    });
    expect(value).toBe('ok');
    expect(calls).toBe(3);
    expect(delays).toEqual([100, 200]);
  });

  it('stops after the attempts and throws the last error unchanged', async () => {
    const { delays, sleep } = recorder();
    const last = http(502);
    const result = await attempt({ attempts: 3, baseMs: 10, maxMs: 15, sleep }, async () => {
      throw last;
    });
    expect(result).toEqual({ ok: false, error: last, attempts: 3, permanent: false });
    expect(delays).toEqual([10, 15]);
  });

  for (const [what, error] of [
    ['a permanent fault', new FhirInputError('patientId', '', 'must not be empty')],
    ['a bug', new TypeError('x is not a function')],
  ] as const) {
    it(`never retries ${what}: one attempt, the error as it was`, async () => {
      const { delays, sleep } = recorder();
      let calls = 0;
      const result = await attempt({ attempts: 5, baseMs: 10, sleep }, async () => {
        calls++;
        throw error;
      });
      expect(calls).toBe(1);
      expect(delays).toEqual([]);
      expect(result).toEqual({ ok: false, error, attempts: 1, permanent: true });
    });
  }

  it('backoffMs doubles from the base and stops at the ceiling', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, 2000, 10_000))).toEqual([2000, 4000, 8000, 10_000, 10_000]);
  });
});
