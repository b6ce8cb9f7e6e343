import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;

interface Service {
  readonly image?: string;
  readonly environment?: Record<string, string>;
  readonly volumes?: readonly string[];
  readonly depends_on?: Record<string, unknown>;
}

/** docker-compose's own reading of the file, as JSON (python3-yaml comes with the docker-compose package). */
function composeConfig(file: string): { services: Record<string, Service> } {
  let text: string;
  try {
    // The file ships no secrets: give it some, as an admin would.
    const env = { ...process.env, POSTGRES_PASSWORD: 'pg-pw', ORTHANC_PASSWORD: 'orthanc-pw', KV_API_TOKEN: 'api-token', KV_HOOK_TOKEN: 'hook-token' };
    text = execFileSync('docker-compose', ['-f', file, 'config'], { cwd: ROOT, encoding: 'utf8', stdio: 'pipe', env });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    throw new Error(e.code === 'ENOENT' ? 'docker-compose is not installed: apt-get install docker-compose (bash .ci/run does)' : `docker-compose config failed: ${e.stderr ?? e.message}`);
  }
  const json = execFileSync('python3', ['-c', 'import sys, yaml, json; print(json.dumps(yaml.safe_load(sys.stdin)))'], { input: text, encoding: 'utf8' });
  return JSON.parse(json) as { services: Record<string, Service> };
}

describe('docker-compose.scale.yml', () => {
  it('runs PostgreSQL, two Orthancs on its index with one shared storage, and two sidecar replicas', () => {
    const { services } = composeConfig('docker-compose.scale.yml');
    expect(services['postgres']?.image).toMatch(/^postgres:/);
    const orthancs = ['orthanc-1', 'orthanc-2'].map((name) => services[name]!);
    for (const orthanc of orthancs) {
      expect(orthanc.environment).toMatchObject({
        ORTHANC__POSTGRESQL__ENABLE_INDEX: 'true',
        ORTHANC__POSTGRESQL__ENABLE_STORAGE: 'false',
        ORTHANC__POSTGRESQL__HOST: 'postgres',
        ORTHANC__POSTGRESQL__LOCK: 'false',
        ORTHANC__POSTGRESQL__PASSWORD: services['postgres']!.environment!['POSTGRES_PASSWORD'],
      });
      expect(orthanc.volumes).toContain('orthanc-storage:/var/lib/orthanc/db:rw');
      expect(Object.keys(orthanc.depends_on ?? {})).toContain('postgres');
    }
    const sidecars = ['kidney-volumes-1', 'kidney-volumes-2'].map((name) => services[name]!.environment!);
    expect(sidecars.map((env) => env['ORTHANC_URL'])).toEqual(['http://orthanc-1:8042', 'http://orthanc-2:8042']);
    expect(new Set(sidecars.map((env) => env['KV_REPLICA_ID'])).size).toBe(2);
    expect(orthancs.map((o) => o.environment!['KV_SIDECAR_URL'])).toEqual(['http://kidney-volumes-1:8080', 'http://kidney-volumes-2:8080']);
  });
});
