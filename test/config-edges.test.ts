/**
 * Issue 12 items 5, 16 and 17 at the configuration: config-file errors that never echo the file,
 * folder settings that must exist, and the time-zone fallback. Unit tests, a bounded fuzz of broken
 * config files (fixed seed), and the same cases through the real CLI process (exit 3).
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkFolder, checkSidecarFolders, loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { runCli } from './helpers/cli.js';

const RUNS = Number(process.env['KV_FUZZ_RUNS'] ?? 200);
const SECRET = 'hunter2-secret-Zq8';
const GOOD = `{\n  "ORTHANC_URL": "http://pacs:8042",\n  "ORTHANC_USERNAME": "kidney",\n  "ORTHANC_PASSWORD": "${SECRET}"\n}\n`;

function tempFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'kv-config-')), 'config.json');
  writeFileSync(file, text);
  return file;
}

/** The ConfigError message of loading a config file, or undefined when it loads. */
function configError(text: string): string | undefined {
  try {
    loadConfig({ KV_CONFIG_FILE: tempFile(text) });
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
}

/** True when the message holds any 4-character piece of the secret. */
function leaks(message: string): boolean {
  for (let i = 0; i + 4 <= SECRET.length; i++) if (message.includes(SECRET.slice(i, i + 4))) return true;
  return false;
}

describe('issue 12 item 16: malformed KV_CONFIG_FILE', () => {
  it('names the file, line and column, and never quotes the file (the password)', () => {
    const text = GOOD.replace(`"${SECRET}"`, `${SECRET}"`);
    const message = configError(text);
    expect(message).toMatch(/^KV_CONFIG_FILE \S+config\.json is not valid JSON at line 4, column 23: unexpected characters/);
    expect(leaks(message!)).toBe(false);
    // A JSON comment and a trailing comma, which JSON.parse would quote the surroundings of.
    expect(configError('{\n  // the password\n  "ORTHANC_PASSWORD": "x"\n}')).toMatch(/at line 2, column 3: comments are not allowed in JSON/);
    expect(configError('{"KV_HTTP_PORT": "9000",}')).toMatch(/at line 1, column 25: a "quoted" key is expected/);
  });

  it('an unknown key is named only when it looks like a variable name, and prototype keys are unknown', () => {
    expect(configError(`{"${SECRET}": "x"}`)).toMatch(/has an unknown key at line 1, column 2; known: ORTHANC_URL/);
    expect(configError('{"toString": "x"}')).toMatch(/has an unknown key at line 1, column 2/);
    expect(configError('{"ORTHANC_PASWORD": "x"}')).toMatch(/has an unknown key "ORTHANC_PASWORD" at line 1, column 2/);
    expect(configError(`{"ORTHANC_PASSWORD": ["${SECRET}"]}`)).toMatch(/at line 1, column 2: "ORTHANC_PASSWORD" must be a string or a number/);
  });

  it('fuzz: any corruption of a config file holding a password loads or fails with a ConfigError that does not quote it', () => {
    const mutated = fc.oneof(
      fc.nat({ max: GOOD.length }).map((n) => GOOD.slice(0, n)),
      fc.tuple(fc.nat({ max: GOOD.length - 1 }), fc.constantFrom('"', '{', '}', ',', ':', '\\', '\n', 'x', '/', '\u0000', '[', '\u00e9')).map(([i, c]) => GOOD.slice(0, i) + c + GOOD.slice(i + 1)),
      fc.tuple(fc.nat({ max: GOOD.length }), fc.string({ maxLength: 4 })).map(([i, c]) => GOOD.slice(0, i) + c + GOOD.slice(i)),
    );
    fc.assert(
      fc.property(mutated, (text) => {
        const message = configError(text);
        if (message !== undefined) expect(leaks(message), message).toBe(false);
      }),
      { seed: 20261129, numRuns: RUNS },
    );
  });

  it('through the CLI: exit 3 with file, line and column, and nothing of the file on stdout or stderr', async () => {
    const file = tempFile(GOOD.replace(`"${SECRET}"`, `${SECRET}"`));
    const run = await runCli(['verify', '1.2.3'], { KV_CONFIG_FILE: file });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`KV_CONFIG_FILE ${file} is not valid JSON at line 4, column 23`);
    expect(leaks(run.stderr + run.stdout)).toBe(false);
  });
});

describe('issue 12 item 17: folder settings must exist and be writable', () => {
  it('KV_HL7_DIR that does not exist, is a file, or is read-only is a ConfigError naming it; it is never created', () => {
    const base = mkdtempSync(join(tmpdir(), 'kv-folders-'));
    const missing = join(base, 'hl7-out');
    expect(() => loadConfig({ KV_HL7_DIR: missing })).toThrow(`KV_HL7_DIR ${missing} does not exist; create it (mkdir -p ${missing}) or set KV_HL7_DIR to an existing folder`);
    expect(() => checkFolder('KV_HL7_DIR', missing)).toThrow(ConfigError);
    const file = join(base, 'a-file');
    writeFileSync(file, '');
    expect(() => loadConfig({ KV_HL7_DIR: file })).toThrow(`KV_HL7_DIR ${file} is not a folder`);
    mkdirSync(missing);
    expect(loadConfig({ KV_HL7_DIR: missing }).delivery?.hl7?.dir).toBe(missing);
    if (process.getuid?.() !== 0) {
      // root may write anywhere, so a read-only folder only refuses other users.
      chmodSync(missing, 0o500);
      expect(() => loadConfig({ KV_HL7_DIR: missing })).toThrow(/KV_HL7_DIR \S+ is not writable by this process/);
    }
  });

  it('the sidecar checks KV_STATE_DIR', () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'kv-folders-')), 'state');
    expect(() => checkSidecarFolders(loadConfig({ KV_STATE_DIR: missing }))).toThrow(`KV_STATE_DIR ${missing} does not exist`);
  });

  it('through the CLI: the sidecar and attach exit 3 naming the folder, and create nothing', async () => {
    const base = mkdtempSync(join(tmpdir(), 'kv-folders-'));
    const state = join(base, 'state');
    const sidecar = await runCli(['sidecar'], { KV_STATE_DIR: state, KV_HTTP_PORT: '65000', ORTHANC_URL: 'http://127.0.0.1:9' });
    expect(sidecar.code).toBe(3);
    expect(sidecar.stderr).toContain(`KV_STATE_DIR ${state} does not exist`);
    const hl7 = join(base, 'hl7');
    const attach = await runCli(['attach', '1.2.3', '--right', '125'], { KV_HL7_DIR: hl7, ORTHANC_URL: 'http://127.0.0.1:9' });
    expect(attach.code).toBe(3);
    expect(attach.stderr).toContain(`KV_HL7_DIR ${hl7} does not exist`);
    const { existsSync } = await import('node:fs');
    expect([existsSync(state), existsSync(hl7)]).toEqual([false, false]);
  });
});

describe('issue 12 item 5: the time zone', () => {
  it('says when it falls back to the machine zone', () => {
    expect(loadConfig({}).timeZoneFromMachine).toBe(true);
    expect(loadConfig({ KV_TIMEZONE: 'Europe/Berlin' }).timeZoneFromMachine).toBe(false);
  });
});
