/** dcmtk's storescp as a real C-STORE receiver for tests, on a free port with its own folder. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePart10 } from '../../src/dicom/part10.js';
import { freePort, stopProcess } from '../helpers/orthanc.js';

/** A running receiver. */
export interface StoreScp {
  readonly aet: string;
  readonly port: number;
  readonly dir: string;
  /** SOP Instance UIDs of the files received so far, read from the files themselves. */
  receivedSopInstanceUids(): string[];
  stop(): Promise<void>;
}

/** Starts `storescp -aet <aet> -od <dir> +xa <port>` and waits until it accepts connections. */
export async function startStoreScp(aet = 'STORESCP'): Promise<StoreScp> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'kv-storescp-'));
  const child = spawn('storescp', ['-aet', aet, '-od', dir, '+xa', String(port)], { stdio: 'ignore' });
  const failed = new Promise<never>((_, reject) => child.once('error', (e) => reject(new Error(`storescp did not start (apt-get install dcmtk): ${e.message}`))));
  await Promise.race([waitForPort(port), failed]);
  return {
    aet,
    port,
    dir,
    receivedSopInstanceUids: () =>
      readdirSync(dir).map((name) => {
        const uid = decodePart10(readFileSync(join(dir, name))).dataset['SOPInstanceUID'];
        return String(Array.isArray(uid) ? uid[0] : uid);
      }),
    stop: async () => {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`storescp did not listen on port ${port} within 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
