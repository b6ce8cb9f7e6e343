// Orthanc over https with a private CA and client certificates: a real Orthanc with SslEnabled and
// SslVerifyPeers, certificates made by openssl, and the real CLI process as an operator runs it.
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ConfigError, EXIT_CODES } from '../../src/errors.js';
import { OrthancClient } from '../../src/orthanc/client.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { runCli } from '../helpers/cli.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { civetwebOpensslShim, makeTestPki, type TestPki } from '../helpers/pki.js';

let folder: string;
let pki: TestPki;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'kv-tls-'));
  pki = makeTestPki(join(folder, 'pki'));
}, 60_000);
afterAll(() => {
  if (folder) rmSync(folder, { recursive: true, force: true });
});

const orthanc = useOrthanc(
  () => ({ SslEnabled: true, SslCertificate: pki.serverBundle, SslVerifyPeers: true, SslTrustedClientCertificates: pki.clientCa }),
  () => ({
    env: { LD_LIBRARY_PATH: civetwebOpensslShim(join(folder, 'shim')) },
    tls: { ca: readFileSync(pki.serverCa), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) },
  }),
);

/** The CLI's environment for this Orthanc, with the given TLS files (undefined leaves a variable out). */
function tlsEnv(files: { ca?: string; cert?: string; key?: string }, url = orthanc.url): Record<string, string> {
  return {
    ...orthanc.env,
    ORTHANC_URL: url,
    ...(files.ca !== undefined ? { ORTHANC_CA_FILE: files.ca } : {}),
    ...(files.cert !== undefined ? { ORTHANC_CERT_FILE: files.cert } : {}),
    ...(files.key !== undefined ? { ORTHANC_KEY_FILE: files.key } : {}),
  };
}

describe('the CLI against an https Orthanc that verifies client certificates', () => {
  it('verify works with the CA and the client certificate', async () => {
    expect(orthanc.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const study = await uploadStudy(orthanc.client, ctStudy(2, { name: 'Tls^Patient' }));
    const run = await runCli(['verify', study.studyInstanceUid], tlsEnv({ ca: pki.serverCa, cert: pki.clientCert, key: pki.clientKey }));
    // It reached Orthanc and read the study; the study holds none of our outputs yet.
    expect(run.code, run.stderr).toBe(EXIT_CODES['verify-incomplete']);
    expect(run.stdout).toContain(`Study ${study.studyInstanceUid} (Orthanc ${study.orthancId}), patient Tls^Patient`);
  });

  it('without the CA (or with a CA that did not sign it): exit 4, certificate not trusted', async () => {
    for (const ca of [undefined, pki.otherCa]) {
      const run = await runCli(['verify', '1.2.3'], tlsEnv({ ...(ca !== undefined ? { ca } : {}), cert: pki.clientCert, key: pki.clientKey }));
      expect(run.code).toBe(EXIT_CODES['orthanc-unreachable']);
      expect(run.stderr).toContain(`cannot connect to Orthanc at ${orthanc.url} (certificate not trusted: set ORTHANC_CA_FILE to the CA that signed it)`);
    }
  });

  it('without a client certificate: exit 4, Orthanc requires one', async () => {
    const run = await runCli(['verify', '1.2.3'], tlsEnv({ ca: pki.serverCa }));
    expect(run.code).toBe(EXIT_CODES['orthanc-unreachable']);
    expect(run.stderr).toContain(`cannot connect to Orthanc at ${orthanc.url} (Orthanc requires a client certificate: set ORTHANC_CERT_FILE and ORTHANC_KEY_FILE)`);
  });

  it('with a client certificate from a CA Orthanc does not trust: exit 4, refused', async () => {
    const run = await runCli(['verify', '1.2.3'], tlsEnv({ ca: pki.serverCa, cert: pki.strangerCert, key: pki.strangerKey }));
    expect(run.code).toBe(EXIT_CODES['orthanc-unreachable']);
    expect(run.stderr).toContain('Orthanc refused our client certificate (ORTHANC_CERT_FILE): it is not signed by a CA in its SslTrustedClientCertificates');
  });

  it('with a host name the certificate does not list: exit 4, naming the mismatch', async () => {
    const url = orthanc.url.replace('127.0.0.1', '127.0.0.2');
    const run = await runCli(['verify', '1.2.3'], tlsEnv({ ca: pki.serverCa, cert: pki.clientCert, key: pki.clientKey }, url));
    expect(run.code).toBe(EXIT_CODES['orthanc-unreachable']);
    expect(run.stderr).toMatch(/\(certificate is for another host \(.*127\.0\.0\.2.*\): use a name the certificate lists in ORTHANC_URL\)/);
  });

  it('Orthanc is still up after all the refused handshakes', async () => {
    expect((await orthanc.client.system()).Version).toBe(orthanc.system.Version);
  });
});

describe('TLS faults a real Orthanc does not give on demand', () => {
  /** Runs a server on a free loopback port for the duration of fn. */
  async function withServer(server: ReturnType<typeof createHttpServer>, fn: (port: number) => Promise<void>): Promise<void> {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await fn((server.address() as AddressInfo).port);
    } finally {
      server.close();
    }
  }

  it('a self-signed certificate without ORTHANC_CA_FILE is not trusted', async () => {
    const server = createHttpsServer({ key: readFileSync(pki.selfSignedKey), cert: readFileSync(pki.selfSigned) }, (_q, r) => r.end('{}'));
    await withServer(server, async (port) => {
      const client = new OrthancClient({ url: `https://127.0.0.1:${port}`, retries: 0 });
      await expect(client.system()).rejects.toThrow(`cannot connect to Orthanc at https://127.0.0.1:${port} (certificate not trusted: set ORTHANC_CA_FILE to the CA that signed it)`);
    });
  });

  it('https:// to a plain http server says so', async () => {
    await withServer(createHttpServer((_q, r) => r.end('{}')), async (port) => {
      const client = new OrthancClient({ url: `https://127.0.0.1:${port}`, retries: 0 });
      await expect(client.system()).rejects.toThrow('TLS handshake failed: no https server on that port? Use http:// in ORTHANC_URL, or turn on SslEnabled in Orthanc');
    });
  });
});

describe('TLS configuration is checked at start-up', () => {
  const https = { ORTHANC_URL: 'https://orthanc.example:8042' };

  it('reads the files into the client options', () => {
    const config = loadConfig({ ...https, ORTHANC_CA_FILE: pki.serverCa, ORTHANC_CERT_FILE: pki.clientCert, ORTHANC_KEY_FILE: pki.clientKey });
    expect(config.orthancTls.ca?.equals(readFileSync(pki.serverCa))).toBe(true);
    expect(config.orthancTls.cert?.equals(readFileSync(pki.clientCert))).toBe(true);
    expect(config.orthancTls.key?.equals(readFileSync(pki.clientKey))).toBe(true);
    expect(loadConfig({}).orthancTls).toEqual({});
  });

  it.each([
    [{ ORTHANC_CA_FILE: '/nonexistent/ca.pem' }, 'ORTHANC_CA_FILE', 'ORTHANC_CA_FILE /nonexistent/ca.pem cannot be read: ENOENT'],
    [{ ORTHANC_CERT_FILE: 'CLIENT' }, 'ORTHANC_KEY_FILE', 'ORTHANC_CERT_FILE and ORTHANC_KEY_FILE must be set together'],
    [{ ORTHANC_CA_FILE: 'KEY' }, 'ORTHANC_CA_FILE', 'must be a PEM file holding "-----BEGIN CERTIFICATE-----"'],
    [{ ORTHANC_CERT_FILE: 'CLIENT', ORTHANC_KEY_FILE: 'STRANGER_KEY' }, 'ORTHANC_KEY_FILE', 'is not the private key of the certificate in ORTHANC_CERT_FILE'],
    [{ ORTHANC_URL: 'http://orthanc.example:8042', ORTHANC_CA_FILE: 'CA' }, 'ORTHANC_CA_FILE', 'ORTHANC_CA_FILE is set, so ORTHANC_URL must start with https://'],
  ])('%o is refused, naming %s', (vars, variable, message) => {
    const files: Record<string, string> = { CLIENT: pki.clientCert, KEY: pki.clientKey, STRANGER_KEY: pki.strangerKey, CA: pki.serverCa };
    const env = Object.fromEntries(Object.entries({ ...https, ...vars }).map(([k, v]) => [k, files[v] ?? v]));
    let thrown: unknown;
    try {
      loadConfig(env);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).variable).toBe(variable);
    expect((thrown as ConfigError).message).toContain(message);
  });

  it('the CLI exits 3 on an unreadable file', async () => {
    const garbage = join(folder, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate');
    const run = await runCli(['verify', '1.2.3'], { ...https, ORTHANC_CA_FILE: garbage });
    expect(run.code).toBe(EXIT_CODES.config);
    expect(run.stderr).toContain(`ORTHANC_CA_FILE ${garbage} must be a PEM file`);
  });
});
