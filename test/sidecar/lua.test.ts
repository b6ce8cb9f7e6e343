// Orthanc's built-in Lua (orthanc/kidney-volumes.lua) wakes the sidecar when a study's metadata
// changes. The sidecar here polls once a minute, so a study done within seconds proves the wake-up.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA } from '../../src/orthanc/metadata.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { freePort } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import type { RunningSidecar } from '../helpers/sidecar-process.js';
import { runWokenSidecar } from '../helpers/woken-sidecar.js';
import { waitForState } from './harness.js';

const HOOK_TOKEN = 'lua-hook-token';
const SCRIPT = new URL('../../orthanc/kidney-volumes.lua', import.meta.url).pathname;

let sidecar: RunningSidecar;
let port: number;
beforeAll(async () => {
  port = await freePort();
});
// StableAge of an hour: the study cannot become stable during the test, so only OnUpdatedStudy (the
// metadata write) can wake the sidecar, whatever the script does for stable studies.
const STABLE_AGE_S = 3600;
const orthanc = useOrthanc({ LuaScripts: [SCRIPT], StableAge: STABLE_AGE_S }, () => ({ env: { KV_SIDECAR_URL: `http://127.0.0.1:${port}`, KV_HOOK_TOKEN: HOOK_TOKEN } }));
beforeAll(async () => {
  sidecar = await runWokenSidecar(port, orthanc.env, HOOK_TOKEN);
});
afterAll(async () => {
  await sidecar?.stop();
});

/** Orthanc's log, shown when a wake-up did not come (HttpPost failures and Lua errors land there). */
const orthancLog = () => readFileSync(join(orthanc.folder, 'orthanc.log'), 'utf8').split('\n').slice(-40).join('\n');

describe("Orthanc's Lua script", () => {
  it('wakes the sidecar from OnUpdatedStudy when KidneyVolumesPending is set over REST, long before the study is stable', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const started = Date.now();
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, JSON.stringify({ 'Right Kidney': '125 ml' }));
    const status = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 10_000).catch((error: unknown) => {
      throw new Error(`${String(error)}\nOrthanc's log:\n${orthancLog()}\nsidecar:\n${sidecar.stdout()}`);
    });
    expect(status.state).toBe('done');
    // Done before the next poll (a minute away) and while Orthanc still holds the study unstable:
    // the wake-up came from the metadata write, not from the study becoming stable.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await orthanc.client.study(study.orthancId)).IsStable).toBe(false);
  });

  it('leaves Orthanc working when the sidecar is down', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await sidecar.stop();
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, JSON.stringify({ 'Left Kidney': '99 ml' }));
    expect((await orthanc.client.studyMetadata(study.orthancId, METADATA.pending))?.value).toContain('99 ml');
    expect((await orthanc.client.system()).Version).toMatch(/^\d/);
    // HttpPost answers nil rather than raising; the script notices and says what happens next.
    await expectEventually(() => orthancLog().includes(`could not wake the sidecar at ${sidecar.url}`), 5_000, orthancLog);
  });
});

async function expectEventually(condition: () => boolean, timeoutMs: number, describeState: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms:\n${describeState()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
