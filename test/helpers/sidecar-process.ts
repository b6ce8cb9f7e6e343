/** Runs the real sidecar process (node dist/cli/main.js sidecar) against a test Orthanc. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './cli.js';
import { freePort, stopProcess } from './orthanc.js';

/** A running sidecar process. */
export interface SidecarProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly stateDir: string;
  /** Everything it printed so far. */
  output(): string;
  /** SIGKILL, as a crash would. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for the exit; answers the exit code and how long it took. */
  terminate(): Promise<{ code: number | null; ms: number }>;
}

/** Starts the sidecar with the given environment (and a state folder, new unless given). */
export async function startSidecarProcess(env: Record<string, string>, stateDir = mkdtempSync(join(tmpdir(), 'kv-state-'))): Promise<SidecarProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'sidecar'], {
    env: {
      PATH: process.env['PATH'] ?? '',
      KV_STATE_DIR: stateDir,
      KV_HTTP_PORT: String(port),
      KV_POLL_INTERVAL_MS: '200',
      KV_RETRY_BASE_MS: '200',
      KV_REPLICA_ID: 'test-sidecar',
      KV_TIMEZONE: 'UTC',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok).catch(() => false)) || child.exitCode !== null, 20_000);
  if (child.exitCode !== null) throw new Error(`the sidecar exited at start-up with ${child.exitCode}:\n${text}`);
  return {
    child,
    port,
    stateDir,
    output: () => text,
    kill9: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
    terminate: async () => {
      const started = Date.now();
      await stopProcess(child);
      return { code: child.exitCode, ms: Date.now() - started };
    },
  };
}

/** Polls a condition every 20 ms until it holds; fails after the timeout. */
export async function waitFor(condition: () => Promise<boolean> | boolean, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
