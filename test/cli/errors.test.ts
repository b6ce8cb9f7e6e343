import { describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../src/errors.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

const orthanc = useOrthanc();

describe('the CLI names the cause and exits with a distinct code', () => {
  it('an unknown study', async () => {
    const run = await runCli(['attach', '1.2.826.0.1.999.1', '--right', '125'], orthanc.env);
    expect(run.code).toBe(EXIT_CODES['not-found']);
    expect(run.stderr).toContain('study 1.2.826.0.1.999.1 not found in Orthanc');
  });

  it('a wrong password, without printing it', async () => {
    const run = await runCli(['attach', '1.2.3', '--right', '125'], { ...orthanc.env, ORTHANC_PASSWORD: 'not-the-password' });
    expect(run.code).toBe(EXIT_CODES['orthanc-auth']);
    expect(run.stderr).toContain('401 Unauthorized from Orthanc: check ORTHANC_USERNAME / ORTHANC_PASSWORD');
    expect(run.stdout + run.stderr).not.toContain('not-the-password');
  });

  it('an unreachable Orthanc', async () => {
    const port = await freePort();
    const run = await runCli(['verify', '1.2.3'], { ORTHANC_URL: `http://127.0.0.1:${port}` });
    expect(run.code).toBe(EXIT_CODES['orthanc-unreachable']);
    expect(run.stderr).toContain(`cannot connect to Orthanc at http://127.0.0.1:${port} (connection refused)`);
  });

  it('invalid measurements, quoting the bad part, before touching Orthanc', async () => {
    const run = await runCli(['attach', '1.2.3', '--right', '-5'], orthanc.env);
    expect(run.code).toBe(EXIT_CODES['invalid-measurements']);
    expect(run.stderr).toContain('"Right Kidney": volume must be positive, got "-5 mL"');
    const json = await runCli(['attach', '1.2.3', '--from-json', '-'], orthanc.env, '{"Right Kidney": "12 gallons"}');
    expect(json.code).toBe(EXIT_CODES['invalid-measurements']);
    expect(json.stderr).toContain('unknown unit "gallons"');
  });

  it('a wrong configuration value', async () => {
    const run = await runCli(['verify', '1.2.3'], { ORTHANC_URL: 'localhost:8042' });
    expect(run.code).toBe(EXIT_CODES.config);
    expect(run.stderr).toContain('ORTHANC_URL must start with http:// or https://, got "localhost:8042"');
  });

  it('usage errors', async () => {
    expect((await runCli(['attach', '1.2.3'])).code).toBe(EXIT_CODES.usage);
    expect((await runCli(['attach', '1.2.3', '--right', '1', '--approach', 'pdf'])).stderr).toContain('--approach must be sr, fhir, private or all, got "pdf"');
    expect((await runCli(['frobnicate'])).code).toBe(EXIT_CODES.usage);
    const bare = await runCli([]);
    expect(bare.code).toBe(EXIT_CODES.usage);
    expect(bare.stderr).toContain('Usage: kidney-volumes');
  });

  it('--json prints a machine-readable error', async () => {
    const run = await runCli(['attach', '1.2.826.0.1.999.2', '--right', '125', '--json'], orthanc.env);
    expect(JSON.parse(run.stdout)).toEqual({
      ok: false,
      error: { kind: 'not-found', message: 'study 1.2.826.0.1.999.2 not found in Orthanc' },
      exitCode: EXIT_CODES['not-found'],
    });
  });

  it('verify reports a study that has nothing of ours yet', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(2, { name: 'Müller^Jörg' }));
    const run = await runCli(['verify', study.studyInstanceUid], orthanc.env);
    // Nothing of ours is "missing" for verify: it exits with its own code, not 0.
    expect(run.code).toBe(EXIT_CODES['verify-incomplete']);
    expect(run.stdout).toContain('NOT OK: 3 output(s) missing or incomplete (exit 17)');
    expect(run.stdout).toContain(`Study ${study.studyInstanceUid} (Orthanc ${study.orthancId}), patient Müller^Jörg`);
    expect(run.stdout).toContain('1 series, 2 instances');
    expect(run.stdout).toContain('no kidney-volumes metadata on this study');
  });
});
