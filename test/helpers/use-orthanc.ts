/**
 * useOrthanc(): one real Orthanc for the tests of a file (or of a describe block), started in a
 * beforeAll and stopped in an afterAll. It lives apart from orthanc.ts because the benchmarks import
 * orthanc.ts under plain Node, where importing vitest throws.
 */
import { afterAll, beforeAll } from 'vitest';
import { startOrthanc, type StartOptions, type TestOrthanc } from './orthanc.js';

/** A value, or a function that makes it when the hook runs (for what an earlier beforeAll prepares: ports, certificates). */
export type WhenStarted<T> = T | (() => T | Promise<T>);

/** How long one Orthanc may take to start (startOrthanc itself gives up after 30 s). */
const START_TIMEOUT_MS = 60_000;

/**
 * Registers a beforeAll that starts Orthanc with these overrides and options, and an afterAll that
 * stops it; answers the Orthanc, whose fields may be read from the tests and from beforeAll hooks
 * registered after this call (vitest runs them in order, and the afterAll hooks in reverse order,
 * so a sidecar started later is stopped before this Orthanc).
 */
export function useOrthanc(overrides: WhenStarted<Record<string, unknown>> = {}, options: WhenStarted<StartOptions> = {}): TestOrthanc {
  let started: TestOrthanc | undefined;
  beforeAll(async () => {
    started = await startOrthanc(await made(overrides), await made(options));
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await started?.stop();
    started = undefined;
  });
  const running = (): TestOrthanc => {
    if (!started) throw new Error('the Orthanc of useOrthanc() is not running: read it inside a test or a later hook of the same block');
    return started;
  };
  return {
    get system() {
      return running().system;
    },
    get url() {
      return running().url;
    },
    get username() {
      return running().username;
    },
    get password() {
      return running().password;
    },
    get dicomPort() {
      return running().dicomPort;
    },
    get client() {
      return running().client;
    },
    get folder() {
      return running().folder;
    },
    get env() {
      return running().env;
    },
    get pid() {
      return running().pid;
    },
    stop: () => running().stop(),
  };
}

async function made<T>(value: WhenStarted<T>): Promise<T> {
  return typeof value === 'function' ? await (value as () => T | Promise<T>)() : value;
}
