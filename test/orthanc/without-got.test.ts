// Issue 17: the Orthanc client no longer uses got, and neither the sidecar nor `attach` loads it
// (it cost about half of the sidecar's CPU per study and a third of a second of every CLI start).
// Both run for real under a loader hook that makes any import of got fail (test/helpers/refuse-got.mjs).
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { METADATA } from '../../src/orthanc/metadata.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { runCli } from '../helpers/cli.js';
import { runSidecar, SIDECAR_NODE_OPTIONS } from '../helpers/sidecar-process.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { waitForState } from '../sidecar/harness.js';

const REFUSE_GOT = `--import ${new URL('../helpers/refuse-got.mjs', import.meta.url).href}`;

describe('got stays out of the Orthanc paths', () => {
  const orthanc = useOrthanc();

  it('the hook does refuse got (a command that imports it fails)', async () => {
    const run = await runCli(['--version'], { NODE_OPTIONS: `${REFUSE_GOT} --import got` });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('got was imported by');
  });

  it('attach with every output runs without loading got', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(2));
    const run = await runCli(['attach', study.orthancId, '--approach', 'sr,fhir,private', '--right', '125', '--left', '132', '--json'], { ...orthanc.env, KV_TIMEZONE: 'UTC', NODE_OPTIONS: REFUSE_GOT });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, command: 'attach' });
  });

  it('attach with an HL7-only delivery runs it without loading got (only the DICOMweb delivery needs got)', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const dir = mkdtempSync(join(tmpdir(), 'kv-hl7-'));
    try {
      const run = await runCli(['attach', study.orthancId, '--approach', 'sr', '--right', '125', '--json'], { ...orthanc.env, KV_TIMEZONE: 'UTC', KV_HL7_DIR: dir, NODE_OPTIONS: REFUSE_GOT });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, command: 'attach' });
      // The delivery did run: its ORU^R01 is in the folder.
      expect(readdirSync(dir).filter((f) => f.endsWith('.hl7'))).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the sidecar processes a study with every output without loading got', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const sidecar = await runSidecar({ env: { ...orthanc.env, KV_POLL_INTERVAL_MS: '200', NODE_OPTIONS: `${SIDECAR_NODE_OPTIONS} ${REFUSE_GOT}` } });
    try {
      await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, JSON.stringify({ 'Right Kidney': '125 ml' }));
      const done = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 60_000);
      expect(done.state).toBe('done');
      expect(Object.keys(done.outputs ?? {}).sort()).toEqual(['fhir', 'private', 'sr']);
      expect(sidecar.stderr()).not.toContain('got was imported');
    } finally {
      await sidecar.stop();
    }
  });
});
