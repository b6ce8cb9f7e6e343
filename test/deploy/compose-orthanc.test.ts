// The compose file's Orthanc without Docker (issue 15): Debian 13's Orthanc 1.12.7 started with
// exactly the files docker-compose.yml mounts into /etc/orthanc, as a configuration folder (the
// official image merges every JSON file there; so does Orthanc given a folder), with only paths
// and ports adapted. Checks that the Lua script is loaded, the user metadata are declared, and the
// real sidecar process processes a study against it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA } from '../../src/orthanc/metadata.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { freePort, orthanc112 } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar, type RunningSidecar } from '../helpers/sidecar-process.js';

/** The Lua wake-up's shared secret, in Orthanc's environment and the sidecar's (as the compose file sets both). */
const HOOK_TOKEN = 'compose-hook-token';
import { waitForState } from '../sidecar/harness.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The read-only file mounts of the orthanc service: host path (relative to the repository) to container path. */
function composeMounts(): Map<string, string> {
  const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
  const service = compose.slice(compose.indexOf('\n  orthanc:'), compose.indexOf('\n  kidney-volumes:'));
  const mounts = new Map<string, string>();
  for (const match of service.matchAll(/^\s+- \.\/(\S+):(\/etc\/orthanc\/\S+):ro$/gm)) mounts.set(match[1]!, match[2]!);
  return mounts;
}

let sidecar: RunningSidecar;
let mounted: Map<string, string>;
let sidecarPort: number;
beforeAll(async () => {
  mounted = composeMounts();
  sidecarPort = await freePort();
});
const orthanc = useOrthanc(
  {},
  () => ({
    binary: orthanc112().binary,
    // Where the compose file points the Lua script at the sidecar.
    env: { KV_SIDECAR_URL: `http://127.0.0.1:${sidecarPort}`, KV_HOOK_TOKEN: HOOK_TOKEN },
    configFolder: ({ folder, httpPort, dicomPort }) => {
      const files: Record<string, string> = {};
      for (const [source, target] of mounted) {
        if (!target.endsWith('.json')) continue;
        let text = readFileSync(join(ROOT, source), 'utf8');
        // Only paths (container paths become the throwaway folder) and ports change.
        for (const [otherSource, otherTarget] of mounted) text = text.replaceAll(otherTarget, join(ROOT, otherSource));
        const json = JSON.parse(text.replaceAll('/var/lib/orthanc/db', join(folder, 'db'))) as Record<string, unknown>;
        if ('HttpPort' in json) json['HttpPort'] = httpPort;
        if ('DicomPort' in json) json['DicomPort'] = dicomPort;
        files[target.slice('/etc/orthanc/'.length)] = JSON.stringify(json, null, 2);
      }
      return files;
    },
  }),
);
beforeAll(async () => {
  // A poll interval far longer than the test: a study processed at once was woken by the Lua script.
  sidecar = await runSidecar({ env: { ...orthanc.env, KV_POLL_INTERVAL_MS: '600000', KV_SWEEP_INTERVAL_MS: '600000', KV_APPROACHES: 'sr,fhir', KV_HOOK_TOKEN: HOOK_TOKEN }, port: sidecarPort });
}, 60_000);
afterAll(async () => {
  await sidecar?.stop();
});

describe("the compose file's Orthanc configuration on Orthanc 1.12", () => {
  it('mounts the configuration files and the Lua script the test uses', () => {
    expect([...mounted.keys()].sort()).toEqual(['orthanc/kidney-volumes.lua', 'orthanc/lua.json', 'orthanc/orthanc.json']);
  });

  it('declares the user metadata and turns on revisions and authentication', async () => {
    const system = await orthanc.client.system();
    expect(system.Version).toBe('1.12.7');
    const declared = (system as unknown as { UserMetadata: Record<string, number> }).UserMetadata;
    for (const name of Object.values(METADATA)) expect(declared[name]).toBeGreaterThanOrEqual(1024);
    expect((system as unknown as { CheckRevisions: boolean }).CheckRevisions).toBe(true);
    const anonymous = await fetch(`${orthanc.url}/system`);
    expect(anonymous.status).toBe(401);
  });

  it('loads the Lua script, which wakes the sidecar: a marked study is done long before the next poll', async () => {
    // Orthanc logs nothing about a loaded script at its default verbosity: its effect is the proof.
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const started = Date.now();
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, '{"Right Kidney": "125 ml", "Left Kidney": "132 ml"}');
    const status = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 60_000);
    expect(status.state, status.error).toBe('done');
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 90_000);
});
