/**
 * The real sidecar process (node dist/bundle/main.js sidecar) on a port chosen by the caller, so that
 * Orthanc's Lua script can be pointed at it before either starts. stdout and stderr are kept apart
 * because stdout is the log a collector reads: it must be JSON lines and nothing else.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './cli.js';
import { freePort } from './orthanc.js';

/** The API token the helper gives a sidecar unless the caller's env sets KV_API_TOKEN. */
export const TEST_API_TOKEN = 'test-api-token';

/**
 * The V8 heap limits the Dockerfile and scripts/start.sh give the sidecar (README, "Memory"), so
 * that tests and benchmarks run it as deployed; test/deploy/node-options.test.ts keeps the three equal.
 */
export const SIDECAR_NODE_OPTIONS = '--max-semi-space-size=2 --max-old-space-size=96';

/** How to start it. */
export interface RunOptions {
  /** Orthanc's variables and any KV_* settings (NODE_OPTIONS replaces SIDECAR_NODE_OPTIONS); KV_HTTP_PORT and KV_STATE_DIR are set here. */
  readonly env: Record<string, string>;
  readonly port?: number;
  readonly stateDir?: string;
  /** The built entry point; the benchmark runs from dist/bench, where CLI's relative path does not hold. */
  readonly cli?: string;
  /** Options after "sidecar" (--from-beginning). */
  readonly args?: readonly string[];
  /** Options for node itself, before the script (--cpu-prof, which NODE_OPTIONS may not carry). */
  readonly nodeArgs?: readonly string[];
}

/** A running sidecar process. */
export interface RunningSidecar {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  readonly stateDir: string;
  /** Headers that carry its API token, for fetch and WebSocket. */
  readonly auth: Record<string, string>;
  stdout(): string;
  stderr(): string;
  /** SIGKILL, as a crash would; resolves once it is gone. */
  kill9(): Promise<void>;
  /** SIGTERM, then waits up to timeoutMs for the exit (SIGKILL after); answers the exit code and the time taken. */
  stop(timeoutMs?: number): Promise<{ code: number | null; ms: number }>;
}

/** Starts the sidecar and waits until GET /health answers. */
export async function runSidecar(options: RunOptions): Promise<RunningSidecar> {
  const cli = options.cli ?? CLI;
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build" first (tsc, then the bundle)`);
  const port = options.port ?? (await freePort());
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'kv-state-'));
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), cli, 'sidecar', ...(options.args ?? [])], {
    env: { PATH: process.env['PATH'] ?? '', NODE_OPTIONS: SIDECAR_NODE_OPTIONS, KV_TIMEZONE: 'UTC', KV_API_TOKEN: TEST_API_TOKEN, ...options.env, KV_HTTP_PORT: String(port), KV_STATE_DIR: stateDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  // Start-up is mostly loading modules (0.6 s of CPU); on a 2-core machine shared with other test
  // runs it was seen to take 25 s of wall time, so the deadline is generous.
  const deadline = Date.now() + 60_000;
  while (!(await fetch(`${url}/health`).then((r) => r.ok, () => false))) {
    if (child.exitCode !== null) throw new Error(`the sidecar exited at start-up with ${child.exitCode}:\n${out}${err}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the sidecar did not answer GET /health within 60 s:\n${out}${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    url,
    port,
    stateDir,
    auth: { authorization: `Bearer ${options.env['KV_API_TOKEN'] ?? TEST_API_TOKEN}` },
    stdout: () => out,
    stderr: () => err,
    kill9: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
    stop: (timeoutMs = 10_000) => stopWithin(child, timeoutMs),
  };
}

function stopWithin(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, ms: 0 });
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, ms: Date.now() - started });
    });
    child.kill('SIGTERM');
  });
}

/** Polls a condition every 20 ms until it holds; fails after the timeout, naming what was awaited. */
export async function waitFor(condition: () => Promise<boolean> | boolean, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
