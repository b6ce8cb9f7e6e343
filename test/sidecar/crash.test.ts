// kill -9 at known points of a study's processing, then a restart: the study must end processed
// exactly once, nothing half-written may look finished, and the originals stay untouched. Each
// kill lands while the sidecar waits on something the test holds (a request to Orthanc held by a
// proxy, an HL7 ACK the listener keeps back, an association the PACS relay keeps waiting), so the
// test knows, and checks, the state at the moment of the kill: it cannot land after "done".
import { createHash } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Message } from 'node-hl7-client';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { METADATA } from '../../src/orthanc/metadata.js';
import { parseStatus, type StudyStatus } from '../../src/status/status.js';
import { startMllpListener, type MllpListener } from '../delivery/mllp-listener.js';
import { startStoreScp, type StoreScp } from '../delivery/storescp.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { startGateProxy, type ProxiedRequest } from '../helpers/gate-proxy.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar, waitFor, type RunningSidecar } from '../helpers/sidecar-process.js';
import { waitForState } from './harness.js';

const IMAGES = 50;
const MARK = JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });

let pacs: StoreScp;
let relay: HoldingRelay;
beforeAll(async () => {
  pacs = await startStoreScp('STORESCP');
  relay = await startHoldingRelay(pacs.port);
});
afterAll(async () => {
  await relay?.close();
  await pacs?.stop();
});
// PACS1 is storescp behind the relay, so the test sees (and can hold) each association Orthanc opens.
const orthanc = useOrthanc(() => ({ DicomModalities: { PACS1: [pacs.aet, '127.0.0.1', relay.port] } }));

/** Fast polling and retries, and a fixed replica name so the restarted process resumes its own claim. */
function sidecarEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { ...orthanc.env, KV_POLL_INTERVAL_MS: '200', KV_RETRY_BASE_MS: '200', KV_REPLICA_ID: 'test-sidecar', ...extra };
}

async function status(studyId: string): Promise<StudyStatus | undefined> {
  const revision = await orthanc.client.studyMetadata(studyId, METADATA.status);
  return revision ? parseStatus(revision.value) : undefined;
}

async function counts(studyId: string): Promise<{ series: number; instances: number; sr: number }> {
  const series = await orthanc.client.studySeries(studyId);
  return {
    series: series.length,
    instances: series.reduce((n, s) => n + s.Instances.length, 0),
    sr: series.filter((s) => s.MainDicomTags['Modality'] === 'SR').reduce((n, s) => n + s.Instances.length, 0),
  };
}

async function originalsDigest(ids: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const id of ids) hash.update(await orthanc.client.instanceFile(id));
  return hash.digest('hex');
}

/** The log events of one process about one study: which approaches it wrote, whether it finished. */
function logged(sidecar: RunningSidecar, studyId: string): { claimed: boolean; wrote: string[]; done: boolean } {
  const lines = sidecar
    .stdout()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l['studyId'] === studyId);
  return {
    claimed: lines.some((l) => l['event'] === 'claimed'),
    wrote: lines.filter((l) => l['event'] === 'write').map((l) => String(l['approach'])),
    done: lines.some((l) => l['event'] === 'done'),
  };
}

/** Checks the state at the moment of a kill: claimed, still processing, not done, having written exactly `wrote`. */
async function expectKilledInProgress(killed: RunningSidecar, studyId: string, wrote: string[]): Promise<void> {
  expect((await status(studyId))?.state).toBe('processing');
  expect(logged(killed, studyId)).toEqual({ claimed: true, wrote, done: false });
}

/** Where the kill lands: the request the proxy holds, and what must be in Orthanc at that moment. */
interface KillPoint {
  /** Holds the first request that matches, and every later one. */
  readonly hold: (studyId: string) => (request: ProxiedRequest) => boolean;
  readonly wrote: string[];
  /** Instances of the study at the kill (originals + SR + derived copies), FHIR Bundle stored or not. */
  readonly atKill: { readonly instances: number; readonly sr: number; readonly fhir: boolean };
}

/** The n-th POST /instances on, counting from 1 (the SR is the first upload, the derived copies follow). */
function fromUpload(n: number): (studyId: string) => (request: ProxiedRequest) => boolean {
  return () => {
    let uploads = 0;
    return (r) => r.method === 'POST' && r.path === '/instances' && ++uploads >= n;
  };
}

const KILL_POINTS: Record<string, KillPoint> = {
  'right after the claim, uploading the SR': { hold: fromUpload(1), wrote: [], atKill: { instances: IMAGES, sr: 0, fhir: false } },
  'after the SR is stored, writing the FHIR Bundle': {
    hold: (id) => (r) => r.method === 'PUT' && r.path === `/studies/${id}/metadata/${METADATA.fhir}`,
    wrote: ['sr'],
    atKill: { instances: IMAGES + 1, sr: 1, fhir: false },
  },
  'after the FHIR Bundle is stored, uploading the first derived copy': { hold: fromUpload(2), wrote: ['sr', 'fhir'], atKill: { instances: IMAGES + 1, sr: 1, fhir: true } },
  'in the middle of the derived copies (10 of 50 stored)': { hold: fromUpload(12), wrote: ['sr', 'fhir'], atKill: { instances: IMAGES + 1 + 10, sr: 1, fhir: true } },
};

describe('kill -9 and restart', () => {
  for (const [point, kill] of Object.entries(KILL_POINTS)) {
    it(`completes the study exactly once when killed ${point}`, async () => {
      const study = await uploadStudy(orthanc.client, { ...ctStudy(IMAGES), series: [{ modality: 'CT', images: IMAGES, rows: 256, columns: 256 }] });
      const series = await orthanc.client.studySeries(study.orthancId);
      const originalIds = [...series[0]!.Instances].sort();
      const before = await originalsDigest(originalIds);

      const proxy = await startGateProxy(orthanc.url);
      let first: RunningSidecar | undefined;
      try {
        const held = proxy.hold(kill.hold(study.orthancId));
        first = await runSidecar({ env: sidecarEnv({ ORTHANC_URL: proxy.url }) });
        await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, MARK);
        await held.arrived(1, 60_000);
        await first.kill9();
        // What the proxy had already let through lands; the held request never will.
        await proxy.settled();
      } finally {
        await proxy.close();
        await first?.kill9();
      }

      // The state at the kill: in progress, exactly as far as the kill point, nothing finished.
      await expectKilledInProgress(first, study.orthancId, kill.wrote);
      const atKill = await counts(study.orthancId);
      expect({ instances: atKill.instances, sr: atKill.sr, fhir: (await orthanc.client.studyMetadata(study.orthancId, METADATA.fhir)) !== undefined }).toEqual(kill.atKill);

      const second = await runSidecar({ env: sidecarEnv(), stateDir: first.stateDir });
      try {
        const done = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 60_000);
        expect(done.state).toBe('done');
        // The crash is counted: the restart found the claim of a process that never finished it.
        expect(done.crashes).toBe(1);
        expect(await counts(study.orthancId)).toEqual({ series: 3, instances: IMAGES * 2 + 1, sr: 1 });
        expect(await orthanc.client.studyMetadata(study.orthancId, METADATA.fhir)).toBeDefined();
        const now = await orthanc.client.studySeries(study.orthancId);
        const original = now.find((s) => s.ID === series[0]!.ID);
        expect([...original!.Instances].sort()).toEqual(originalIds);
        expect(await originalsDigest(originalIds)).toBe(before);
      } finally {
        expect((await second.stop()).code).toBe(0);
      }
    });
  }
});

describe('kill -9 during delivery, then a restart', () => {
  // Deliveries are at least once: a message or an instance that went out before the kill, without
  // its acknowledgement coming back, is sent again after the restart, under the same MSH-10 or the
  // same SOP Instance UID, so the receiver can tell it is the same. Orthanc keeps one SR, one Bundle.

  it('during HL7 delivery: the study is done once, and the ORU^R01 is sent again under the same MSH-10', async () => {
    // The first message gets no ACK: the sidecar waits for it (a minute) and is killed while waiting.
    let listener: MllpListener | undefined;
    try {
      listener = await startMllpListener((n) => (n === 0 ? 'silent' : { code: 'AA' }));
      const env = sidecarEnv({ KV_APPROACHES: 'sr,fhir', KV_HL7_MLLP: `${listener.host}:${listener.port}`, KV_HL7_TIMEOUT_MS: '60000' });
      const study = await uploadStudy(orthanc.client, ctStudy(2));
      const first = await runSidecar({ env });
      try {
        await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, MARK);
        const received = listener.received;
        await waitFor(() => received.length === 1, 60_000, 'the first ORU^R01 at the listener');
      } finally {
        await first.kill9();
      }
      await expectKilledInProgress(first, study.orthancId, ['sr', 'fhir']);

      const second = await runSidecar({ env, stateDir: first.stateDir });
      try {
        const done = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 60_000);
        expect(done.state, done.error).toBe('done');
        expect(done.outputs?.['hl7']).toMatchObject({ mllp: { ack: 'AA', attempts: 1 } });
      } finally {
        expect((await second.stop()).code).toBe(0);
      }
      // Once in Orthanc: the original series and one SR.
      expect(await counts(study.orthancId)).toEqual({ series: 2, instances: 3, sr: 1 });
      // Twice at the receiver, the same message: same control ID, same results.
      expect(listener.protocolErrors).toEqual([]);
      expect(listener.received).toHaveLength(2);
      const [sent, resent] = listener.received.map((text) => new Message({ text }));
      expect(resent!.get('MSH.10').toString()).toBe(sent!.get('MSH.10').toString());
      // The same patient, results and SR reference (MSH-7 and OBR-22, the times of sending, may differ).
      const content = (text: string): string[] => text.split('\r').filter((segment) => /^(PID|OBX|ZDS)\|/.test(segment));
      expect(content(listener.received[1]!)).toEqual(content(listener.received[0]!));
      expect(content(listener.received[0]!).filter((segment) => segment.startsWith('OBX|'))).toHaveLength(2);
    } finally {
      await listener?.stop();
    }
  });

  it('during the C-STORE to the PACS: the study is done once, and the PACS gets the same SR again', async () => {
    const env = sidecarEnv({ KV_APPROACHES: 'sr,fhir', KV_FORWARD_MODALITIES: 'PACS1', KV_FORWARD_TIMEOUT_MS: '60000' });
    const study = await uploadStudy(orthanc.client, ctStudy(2));
    const associations = relay.connections();
    const receivedBefore = new Set(pacs.receivedSopInstanceUids());
    // Orthanc's association to the PACS waits at the relay: the sidecar is inside its synchronous C-STORE.
    relay.hold();
    const first = await runSidecar({ env });
    try {
      await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, MARK);
      await waitFor(() => relay.connections() === associations + 1, 60_000, "Orthanc's association to the PACS");
    } finally {
      await first.kill9();
      // The association Orthanc opened for the killed process goes on: that copy may arrive.
      relay.release();
    }
    await expectKilledInProgress(first, study.orthancId, ['sr', 'fhir']);

    const second = await runSidecar({ env, stateDir: first.stateDir });
    let srUid: string;
    try {
      const done = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 60_000);
      expect(done.state, done.error).toBe('done');
      srUid = (done.outputs?.['sr'] as { sopInstanceUid: string }).sopInstanceUid;
      expect(done.outputs?.['forward']).toMatchObject({ srSopInstanceUid: srUid, sent: [{ modality: 'PACS1', remoteAet: 'STORESCP' }] });
    } finally {
      expect((await second.stop()).code).toBe(0);
    }
    // Once in Orthanc: the original series and one SR.
    expect(await counts(study.orthancId)).toEqual({ series: 2, instances: 3, sr: 1 });
    // At the PACS: two associations (the interrupted one and the restart's), one SR, by its one SOP Instance UID.
    expect(relay.connections()).toBe(associations + 2);
    await waitFor(() => pacs.receivedSopInstanceUids().some((uid) => uid === srUid), 10_000, 'the SR at the PACS');
    expect(pacs.receivedSopInstanceUids().filter((uid) => !receivedBefore.has(uid))).toEqual([srUid]);
  });
});

/** A TCP relay in front of the PACS that counts connections and can keep new ones waiting. */
interface HoldingRelay {
  readonly port: number;
  connections(): number;
  /** Connections from now on wait (unanswered, nothing passed on) until release(). */
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

async function startHoldingRelay(targetPort: number): Promise<HoldingRelay> {
  let count = 0;
  let holding = false;
  const waiting: Socket[] = [];
  const sockets = new Set<Socket>();
  const pass = (client: Socket): void => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.resume();
  };
  const server: Server = createServer((client) => {
    count++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (holding) {
      client.pause();
      waiting.push(client);
    } else {
      pass(client);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return {
    port: address.port,
    connections: () => count,
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      for (const client of waiting.splice(0)) pass(client);
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
