// The deployment files as docker-compose itself reads them (Debian's docker-compose package; no
// Docker engine is needed for "config").
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { METADATA } from '../../src/orthanc/metadata.js';
import { ORTHANC_CONFIG } from '../helpers/orthanc.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const SECRETS = { ORTHANC_PASSWORD: 'orthanc-pw-given', KV_API_TOKEN: 'api-token-given', KV_HOOK_TOKEN: 'hook-token-given', POSTGRES_PASSWORD: 'pg-pw-given' };

/**
 * docker-compose config with only the given variables set: its output, or its error message.
 * Asynchronous: it takes seconds, and a worker blocked that long cannot report to vitest.
 */
async function composeConfig(file: string, vars: Record<string, string>): Promise<{ ok: boolean; text: string }> {
  try {
    const { stdout: text } = await promisify(execFile)('docker-compose', ['-f', file, 'config'], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...vars } });
    return { ok: true, text };
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('docker-compose is not installed: apt-get install docker-compose (bash .ci/run does)');
    return { ok: false, text: e.stderr ?? e.message };
  }
}

/** The resolved file as JSON (python3-yaml comes with the docker-compose package). */
function asJson(text: string): { services: Record<string, { environment?: Record<string, string>; ports?: unknown[] }> } {
  return JSON.parse(execFileSync('python3', ['-c', 'import sys, yaml, json; print(json.dumps(yaml.safe_load(sys.stdin)))'], { input: text, encoding: 'utf8' })) as never;
}

describe('deployment files', () => {
  it('docker-compose.yml parses with docker-compose and wires the sidecar to Orthanc', async () => {
    const { ok, text } = await composeConfig('docker-compose.yml', SECRETS);
    expect(ok, text).toBe(true);
    expect(text).toContain('ORTHANC_URL: http://orthanc:8042');
    expect(text).toContain(`${ROOT}orthanc/orthanc.json:/etc/orthanc/kidney-volumes.json:ro`);
    expect(text).toContain(`${ROOT}orthanc/kidney-volumes.lua:/etc/orthanc/kidney-volumes.lua:ro`);
    expect(text).toContain('KV_SIDECAR_URL: http://kidney-volumes:8080');
    expect(text).toMatch(/command:\n\s+- sidecar/);
    expect(text).toContain('kidney-volumes-state:/var/lib/kidney-volumes:rw');
  });

  for (const file of ['docker-compose.yml', 'docker-compose.scale.yml']) {
    it(`${file} ships no working secret: unset, each is named; set, they reach both sides and nothing else works`, { timeout: 240_000 }, async () => {
      const required = file === 'docker-compose.yml' ? ['ORTHANC_PASSWORD', 'KV_API_TOKEN', 'KV_HOOK_TOKEN'] : ['ORTHANC_PASSWORD', 'KV_API_TOKEN', 'KV_HOOK_TOKEN', 'POSTGRES_PASSWORD'];
      // docker-compose names the first missing one; set them one by one and each is asked for in turn.
      const named = new Set<string>();
      const given: Record<string, string> = {};
      for (let i = 0; i < required.length; i++) {
        const run = await composeConfig(file, given);
        expect(run.ok).toBe(false);
        // The message ends with ours ("...in service "x": set NAME to ..."); before it, compose dumps the raw section.
        const variable = /in service "[^"]+": set (\w+) to/.exec(run.text)?.[1];
        expect(variable, run.text).toBeDefined();
        named.add(variable!);
        given[variable!] = SECRETS[variable as keyof typeof SECRETS];
      }
      expect([...named].sort()).toEqual([...required].sort());
      const { ok, text } = await composeConfig(file, given);
      expect(ok, text).toBe(true);
      expect(text).not.toMatch(/change-me|kidney-volumes"|: kidney-volumes$/m);

      const { services } = asJson(text);
      const [user] = Object.keys((JSON.parse(readFileSync(ORTHANC_CONFIG, 'utf8')) as { RegisteredUsers: Record<string, string> }).RegisteredUsers);
      for (const [name, service] of Object.entries(services)) {
        const env = service.environment ?? {};
        if (name.startsWith('orthanc')) {
          // Merged over orthanc/orthanc.json by the image: the file's user gets the given password.
          expect(JSON.parse(env['ORTHANC__REGISTERED_USERS'] ?? '{}')).toEqual({ [user!]: SECRETS.ORTHANC_PASSWORD });
          expect(env['KV_HOOK_TOKEN']).toBe(SECRETS.KV_HOOK_TOKEN);
        }
        if (name.startsWith('kidney-volumes')) {
          expect(env).toMatchObject({ ORTHANC_USERNAME: user, ORTHANC_PASSWORD: SECRETS.ORTHANC_PASSWORD, KV_API_TOKEN: SECRETS.KV_API_TOKEN, KV_HOOK_TOKEN: SECRETS.KV_HOOK_TOKEN });
        }
        // HTTP ports are published on this host only; the DICOM port stays open for the modalities.
        for (const port of service.ports ?? []) {
          if (typeof port === 'string') expect(port, `${name} ${port}`).toMatch(/^127\.0\.0\.1:/);
          else expect((port as { target: number }).target, name).toBe(4242);
        }
      }
    });
  }

  it('the container image listens on every interface (its published port is what limits access)', () => {
    expect(readFileSync(`${ROOT}Dockerfile`, 'utf8')).toMatch(/^ENV .*KV_HTTP_HOST=0\.0\.0\.0/m);
  });

  it('orthanc/orthanc.json declares our metadata, turns authentication on and checks revisions', () => {
    const config = JSON.parse(readFileSync(ORTHANC_CONFIG, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(config['UserMetadata'] as object).sort()).toEqual(Object.values(METADATA).sort());
    expect(config['AuthenticationEnabled']).toBe(true);
    expect(config['CheckRevisions']).toBe(true);
    const compose = readFileSync(`${ROOT}docker-compose.yml`, 'utf8');
    const lua = JSON.parse(readFileSync(`${ROOT}orthanc/lua.json`, 'utf8')) as { LuaScripts: string[] };
    expect(compose).toContain(`./orthanc/kidney-volumes.lua:${lua.LuaScripts[0]}:ro`);
  });
});
