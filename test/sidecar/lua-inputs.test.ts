// Orthanc's Lua script (orthanc/kidney-volumes.lua) wakes the real sidecar when a SEG series or
// another system's SR series becomes stable: such studies carry no mark, so without OnStableSeries
// they waited for the next poll of the changes feed. The sidecar here polls once a minute and is
// ready (has read the feed) before the inputs are pushed, so a study done within seconds proves the wake-up.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushDicomInput } from '../fixtures/dicom-input-studies.js';
import { freePort } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import type { RunningSidecar } from '../helpers/sidecar-process.js';
import { runWokenSidecar } from '../helpers/woken-sidecar.js';
import { waitForState } from './harness.js';

const HOOK_TOKEN = 'lua-inputs-token';
const SCRIPT = new URL('../../orthanc/kidney-volumes.lua', import.meta.url).pathname;
/** Far beyond StableAge (1 s) plus the work; far short of the poll (60 s) for both tests together. */
const WITHIN_MS = 12_000;

let sidecar: RunningSidecar;
let port: number;
beforeAll(async () => {
  port = await freePort();
});
const orthanc = useOrthanc({ LuaScripts: [SCRIPT], StableAge: 1 }, () => ({ env: { KV_SIDECAR_URL: `http://127.0.0.1:${port}`, KV_HOOK_TOKEN: HOOK_TOKEN } }));
let ready = 0;
beforeAll(async () => {
  sidecar = await runWokenSidecar(port, orthanc.env, HOOK_TOKEN);
  ready = Date.now();
}, 60_000);
afterAll(async () => {
  await sidecar?.stop();
});

const orthancLog = () => readFileSync(join(orthanc.folder, 'orthanc.log'), 'utf8').split('\n').slice(-40).join('\n');

describe("Orthanc's Lua script wakes the sidecar from OnStableSeries", () => {
  for (const kind of ['seg', 'vendor-sr'] as const) {
    it(`for ${kind === 'seg' ? 'a SEG' : "another system's TID 1500 SR"} pushed into a study: done long before the next poll`, async () => {
      const started = Date.now();
      const pushed = await pushDicomInput(orthanc.client, kind);
      const status = await waitForState(orthanc.client, pushed.studyId, ['done', 'failed'], WITHIN_MS).catch((error: unknown) => {
        throw new Error(`${String(error)}\nOrthanc's log:\n${orthancLog()}\nsidecar:\n${sidecar.stdout()}`);
      });
      expect(status.state, status.error).toBe('done');
      // The volumes came from the DICOM input (the study had no mark).
      if (kind === 'seg') expect(status.measurements.map((m) => [m.name, m.method])).toEqual([['Right Kidney', 'segmentation'], ['Left Kidney', 'segmentation'], ['Total Volume', 'segmentation']]);
      else expect(status.origin).toMatchObject({ kind: 'vendor-sr', manufacturer: 'Acme AI' });
      // The sidecar's only poll after it was ready is a minute away: a wake-up started this study.
      expect(Date.now() - ready).toBeLessThan(60_000);
      expect(Date.now() - started).toBeLessThan(WITHIN_MS);
    }, WITHIN_MS + 5_000);
  }
});
