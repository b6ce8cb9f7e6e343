// scripts/start.sh as a new user runs it: the real script, the real local Orthanc it starts and
// the real sidecar. Ctrl-C is the terminal's SIGINT to the script's whole process group.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../src/errors.js';
import { OrthancClient } from '../../src/orthanc/client.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { freePort } from '../helpers/orthanc.js';

const START = new URL('../../scripts/start.sh', import.meta.url).pathname;

interface Started {
  readonly child: ChildProcess;
  out(): string;
  exit: Promise<number | null>;
}

/** Runs start.sh in its own process group (as a terminal would), with its folders and ports given. */
function start(args: readonly string[], env: Record<string, string>): Started {
  const child = spawn('bash', [START, ...args], {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', KV_SKIP_SETUP: '1', KV_TIMEZONE: 'UTC', KV_RETRIES: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, exit };
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, state: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms:\n${state()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function occupy(port: number): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const running: Started[] = [];
afterAll(() => {
  for (const r of running) if (r.child.exitCode === null && r.child.pid) process.kill(-r.child.pid, 'SIGKILL');
});

async function folders(): Promise<Record<string, string>> {
  const root = mkdtempSync(join(tmpdir(), 'kv-start-'));
  // A KV_STATE_DIR that is given must exist (the sidecar never creates folders silently).
  mkdirSync(join(root, 'state'));
  return {
    KV_ORTHANC_DATA: join(root, 'orthanc'),
    KV_STATE_DIR: join(root, 'state'),
    KV_ORTHANC_PORT: String(await freePort()),
    KV_ORTHANC_DICOM_PORT: String(await freePort()),
    KV_HTTP_PORT: String(await freePort()),
  };
}

describe('scripts/start.sh', () => {
  it('checks both ports before starting anything, naming the port and the variable, with the configuration exit code', async () => {
    const env = await folders();
    for (const [variable, what] of [
      ['KV_HTTP_PORT', "the sidecar's HTTP API"],
      ['KV_ORTHANC_PORT', "the local Orthanc's"],
    ] as const) {
      const port = Number(env[variable]);
      const server = await occupy(port);
      try {
        const run = start([], env);
        expect(await run.exit).toBe(EXIT_CODES.config);
        expect(run.out()).toContain(`port ${port} (${what}) is taken`);
        expect(run.out()).toContain(variable);
        expect(existsSync(join(env['KV_ORTHANC_DATA']!, 'orthanc.pid'))).toBe(false);
      } finally {
        await new Promise((r) => server.close(r));
      }
    }
  });

  it('lets "start.sh verify" reuse the running local Orthanc, and on Ctrl-C stops the sidecar (which finishes its study) before Orthanc', async () => {
    const env = await folders();
    const sidecar = start([], { ...env, KV_LOG_LEVEL: 'info', KV_POLL_INTERVAL_MS: '200' });
    running.push(sidecar);
    const api = `http://127.0.0.1:${env['KV_HTTP_PORT']}`;
    await until(() => (sidecar.child.exitCode !== null ? Promise.reject(new Error(sidecar.out())) : fetch(`${api}/health`).then((r) => r.ok, () => false)), 40_000, sidecar.out);
    const [user, password] = readFileSync(join(env['KV_ORTHANC_DATA']!, 'credentials'), 'utf8').split('\n');
    const client = new OrthancClient({ url: `http://127.0.0.1:${env['KV_ORTHANC_PORT']}`, username: user!, password: password!, retries: 0, timeoutMs: 10_000 });
    const study = await uploadStudy(client, ctStudy(3, { name: 'Start^Script' }));

    // Another terminal: the same script with a CLI command uses the Orthanc the first one runs.
    const verify = start(['verify', study.studyInstanceUid], env);
    await verify.exit;
    expect(verify.out()).toContain(`using the local Orthanc at http://127.0.0.1:${env['KV_ORTHANC_PORT']} that start.sh is running`);
    expect(verify.out()).toContain('Start^Script');
    expect(verify.out()).not.toMatch(/is taken|401 Unauthorized/);

    await client.setStudyMetadata(study.orthancId, METADATA.pending, JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' }));
    // Ctrl-C while the study is in hand.
    const claimed = new RegExp(`"studyId":"${study.orthancId}"[^\\n]*"event":"claimed"`);
    await until(() => claimed.test(sidecar.out()), 20_000, sidecar.out);
    process.kill(-sidecar.child.pid!, 'SIGINT');
    expect(await sidecar.exit).toBe(0);
    const log = sidecar.out();
    expect(log).not.toMatch(/connection refused|ECONNREFUSED/i);
    expect(log).not.toContain('"event":"failed"');
    // It either finished the study or handed it back (the next start completes it); never failed it.
    expect(log).toMatch(new RegExp(`"studyId":"${study.orthancId}"[^\\n]*"event":"done"|"event":"abandon"`));
    const sidecarEnd = Math.max(log.indexOf('"event":"stopped"'), log.indexOf('"event":"abandon"'));
    expect(sidecarEnd, log).toBeGreaterThan(-1);
    expect(log.indexOf('local Orthanc stopped')).toBeGreaterThan(sidecarEnd);
    expect(existsSync(join(env['KV_ORTHANC_DATA']!, 'orthanc.pid'))).toBe(false);
    expect(await fetch(`http://127.0.0.1:${env['KV_ORTHANC_PORT']}/system`).then(() => 'up', () => 'down')).toBe('down');
  });
});
