/**
 * Starts a real Orthanc for tests: free loopback ports, a throwaway storage folder, and the
 * project's orthanc/orthanc.json with only ports and folders changed. Debian 12's Orthanc 1.10 by
 * default; ORTHANC_BINARY and ORTHANC_PLUGIN_DIR select another one (.ci/run points them at the
 * Debian 13 root of scripts/orthanc-1.12.sh for 1.12).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OrthancClient, type OrthancClientOptions } from '../../src/orthanc/client.js';
import type { OrthancSystem } from '../../src/orthanc/types.js';

/** Where the project's Orthanc configuration lives. */
export const ORTHANC_CONFIG = new URL('../../orthanc/orthanc.json', import.meta.url).pathname;

/** A running test Orthanc. */
export interface TestOrthanc {
  readonly url: string;
  readonly username: string;
  readonly password: string;
  readonly dicomPort: number;
  readonly client: OrthancClient;
  readonly folder: string;
  /** What its /system said at start-up (Version, ApiVersion, HasLabels on 1.12...). */
  readonly system: OrthancSystem;
  /** Environment variables that point the CLI at this Orthanc. */
  readonly env: Record<string, string>;
  /** Its process ID (benchmarks read its CPU time from /proc). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The Orthanc binary, or a clear failure saying how to install it (tests never skip silently). */
export function orthancBinary(): string {
  const binary = process.env['ORTHANC_BINARY'] ?? '/usr/sbin/Orthanc';
  if (!existsSync(binary)) {
    throw new Error(`Orthanc is not installed (looked for ${binary}): run "apt-get install orthanc" or "bash .ci/run", or set ORTHANC_BINARY`);
  }
  return binary;
}

/** Where the Orthanc under test keeps its plugins (the PostgreSQL index, DICOMweb): from the same build as the binary. */
export function orthancPluginFolder(): string {
  return process.env['ORTHANC_PLUGIN_DIR'] ?? '/usr/share/orthanc/plugins';
}

/** The path of one plugin of the Orthanc under test, or a failure naming the package that holds it. */
export function orthancPlugin(file: string, debianPackage: string): string {
  const path = join(orthancPluginFolder(), file);
  if (!existsSync(path)) throw new Error(`${path} is missing: run "apt-get install ${debianPackage}" (or "bash scripts/orthanc-1.12.sh" for 1.12) or "bash .ci/run"`);
  return path;
}

/** Debian 13's Orthanc 1.12 from the root of scripts/orthanc-1.12.sh, for tests about what only 1.12 has (labels). */
export function orthanc112(): { binary: string; pluginFolder: string } {
  const root = process.env['KV_ORTHANC112_ROOT'] ?? '/var/cache/kidney-volumes/debian13-orthanc';
  const binary = join(root, 'orthanc-wrapper');
  if (!existsSync(join(root, '.kv-complete')) || !existsSync(binary)) {
    throw new Error(`Orthanc 1.12 is not set up in ${root}: run "bash scripts/orthanc-1.12.sh" or "bash .ci/run"`);
  }
  return { binary, pluginFolder: join(root, 'usr/share/orthanc/plugins') };
}

/** Options of startOrthanc beside the configuration overrides. */
export interface StartOptions {
  /** Another Orthanc binary than the one under test (orthanc112().binary). */
  readonly binary?: string;
  /**
   * Start Orthanc with a configuration folder instead of one file (Orthanc merges every JSON file
   * in it, as the official image does with /etc/orthanc): answers the files to write there, given
   * the throwaway folder and the free ports. The overrides are not used then.
   */
  readonly configFolder?: (place: { folder: string; httpPort: number; dicomPort: number }) => Record<string, string>;
  /** Extra environment variables for the Orthanc process (its Lua scripts read them with os.getenv). */
  readonly env?: Record<string, string>;
  /** For an Orthanc with SslEnabled: the URL becomes https and the readiness check presents these. */
  readonly tls?: Pick<OrthancClientOptions, 'ca' | 'cert' | 'key'>;
}

/** Starts Orthanc and waits until its REST API answers with the configured credentials. */
export async function startOrthanc(overrides: Record<string, unknown> = {}, options: StartOptions = {}): Promise<TestOrthanc> {
  const binary = options.binary ?? orthancBinary();
  const folder = mkdtempSync(join(tmpdir(), 'kv-orthanc-'));
  const [httpPort, dicomPort] = [await freePort(), await freePort()];
  const base = JSON.parse(readFileSync(ORTHANC_CONFIG, 'utf8')) as Record<string, unknown>;
  const users = base['RegisteredUsers'] as Record<string, string>;
  const [username, password] = Object.entries(users)[0] ?? ['', ''];
  const config = {
    ...base,
    StorageDirectory: join(folder, 'db'),
    IndexDirectory: join(folder, 'db'),
    HttpPort: httpPort,
    DicomPort: dicomPort,
    RemoteAccessAllowed: false,
    ...overrides,
  };
  let configPath = join(folder, 'orthanc.json');
  if (options.configFolder) {
    configPath = join(folder, 'config');
    mkdirSync(configPath);
    for (const [name, text] of Object.entries(options.configFolder({ folder, httpPort, dicomPort }))) writeFileSync(join(configPath, name), text);
  } else {
    writeFileSync(configPath, JSON.stringify(config, null, 2));
  }
  const log = openSync(join(folder, 'orthanc.log'), 'a');
  const child = spawn(binary, [configPath], { stdio: ['ignore', log, log], ...(options.env ? { env: { ...process.env, ...options.env } } : {}) });
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${httpPort}`;
  const client = new OrthancClient({ url, username, password, retries: 0, timeoutMs: 10_000, ...options.tls });
  const system = await waitUntilUp(child, client, folder);
  return {
    system,
    url,
    username,
    password,
    dicomPort,
    client,
    folder,
    env: { ORTHANC_URL: url, ORTHANC_USERNAME: username, ORTHANC_PASSWORD: password },
    pid: child.pid,
    stop: async () => {
      await stopProcess(child);
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

async function waitUntilUp(child: ChildProcess, client: OrthancClient, folder: string): Promise<OrthancSystem> {
  const deadline = Date.now() + 30_000;
  let exited = false;
  child.once('exit', () => (exited = true));
  for (;;) {
    if (exited) throw new Error(`Orthanc exited at start-up; its log:\n${tail(join(folder, 'orthanc.log'))}`);
    try {
      return await client.system();
    } catch (error) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`Orthanc did not answer within 30 s (${(error as Error).message}); its log:\n${tail(join(folder, 'orthanc.log'))}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Sends SIGTERM, then SIGKILL after 10 s, and waits for the exit. */
export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}
