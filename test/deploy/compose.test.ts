import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { METADATA } from '../../src/pipeline/metadata.js';
import { ORTHANC_CONFIG } from '../helpers/orthanc.js';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('deployment files', () => {
  it('docker-compose.yml parses with docker-compose and wires the sidecar to Orthanc', () => {
    let text: string;
    try {
      text = execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      const e = error as NodeJS.ErrnoException & { stderr?: string };
      throw new Error(e.code === 'ENOENT' ? 'docker-compose is not installed: apt-get install docker-compose (bash .ci/run does)' : `docker-compose config failed: ${e.stderr ?? e.message}`);
    }
    expect(text).toContain('ORTHANC_URL: http://orthanc:8042');
    expect(text).toContain(`${ROOT}orthanc/orthanc.json:/etc/orthanc/kidney-volumes.json:ro`);
    expect(text).toContain(`${ROOT}orthanc/kidney-volumes.lua:/etc/orthanc/kidney-volumes.lua:ro`);
    expect(text).toContain('KV_SIDECAR_URL: http://kidney-volumes:8080');
    expect(text).toMatch(/command:\n\s+- sidecar/);
    expect(text).toContain('kidney-volumes-state:/var/lib/kidney-volumes:rw');
  });

  it('orthanc/orthanc.json declares our metadata, turns authentication on and checks revisions', () => {
    const config = JSON.parse(readFileSync(ORTHANC_CONFIG, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(config['UserMetadata'] as object).sort()).toEqual(Object.values(METADATA).sort());
    expect(config['AuthenticationEnabled']).toBe(true);
    expect(config['CheckRevisions']).toBe(true);
    const compose = readFileSync(`${ROOT}docker-compose.yml`, 'utf8');
    const [user, password] = Object.entries(config['RegisteredUsers'] as Record<string, string>)[0]!;
    expect(compose).toContain(`ORTHANC_USERNAME: ${user}`);
    expect(compose).toContain(`ORTHANC_PASSWORD: ${password}`);
    const lua = JSON.parse(readFileSync(`${ROOT}orthanc/lua.json`, 'utf8')) as { LuaScripts: string[] };
    expect(compose).toContain(`./orthanc/kidney-volumes.lua:${lua.LuaScripts[0]}:ro`);
  });
});
