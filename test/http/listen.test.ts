// Where the real sidecar process listens, and what a new user sees when its port is taken.
import { connect, createServer, type Server } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar } from '../helpers/sidecar-process.js';

/** A state folder that exists (the sidecar never creates one silently). */
function stateDir(): string {
  return mkdtempSync(join(tmpdir(), 'kv-listen-'));
}

/** This machine's first address that is not loopback (where another host would connect). */
function externalAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && !a.internal && a.family === 'IPv4')?.address;
  if (address === undefined) throw new Error('this machine has no non-loopback IPv4 address to test the listening address with');
  return address;
}

/** Whether a TCP connection to host:port opens. */
function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

const orthanc = useOrthanc();

describe('where the sidecar listens', () => {
  it('listens on 127.0.0.1 only by default, and on every interface with KV_HTTP_HOST=0.0.0.0', async () => {
    const outside = externalAddress();
    const loopbackOnly = await runSidecar({ env: { ...orthanc.env } });
    try {
      expect(await reachable('127.0.0.1', loopbackOnly.port)).toBe(true);
      expect(await reachable(outside, loopbackOnly.port)).toBe(false);
    } finally {
      await loopbackOnly.stop();
    }
    const open = await runSidecar({ env: { ...orthanc.env, KV_HTTP_HOST: '0.0.0.0' } });
    try {
      expect(await reachable(outside, open.port)).toBe(true);
    } finally {
      await open.stop();
    }
  });
});

describe('the sidecar on a taken port', () => {
  it('says which port and which variable changes it, and exits with the configuration code (no stack trace)', async () => {
    const port = await freePort();
    const server: Server = await new Promise((resolve) => {
      const s = createServer();
      s.listen(port, '127.0.0.1', () => resolve(s));
    });
    try {
      const run = await runCli(['sidecar'], { ...orthanc.env, KV_HTTP_PORT: String(port), KV_API_TOKEN: 't', KV_LOG_LEVEL: 'warn', KV_STATE_DIR: stateDir() });
      expect(run.code).toBe(EXIT_CODES.config);
      expect(run.stderr).toContain(`port ${port} is already in use (listening on 127.0.0.1:${port})`);
      expect(run.stderr).toContain('set KV_HTTP_PORT to a free port');
      expect(run.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('names KV_HTTP_HOST when it is not an address of this machine', async () => {
    const run = await runCli(['sidecar'], { ...orthanc.env, KV_HTTP_HOST: '192.0.2.1', KV_HTTP_PORT: String(await freePort()), KV_API_TOKEN: 't', KV_LOG_LEVEL: 'warn', KV_STATE_DIR: stateDir() });
    expect(run.code).toBe(EXIT_CODES.config);
    expect(run.stderr).toContain('KV_HTTP_HOST 192.0.2.1 is not an address of this machine');
  });
});
