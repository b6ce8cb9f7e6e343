/** Runs the sidecar daemon with its HTTP API until SIGTERM or SIGINT. */
import { createServer } from 'node:http';
import type { Config } from '../config.js';
import { createApp } from '../http/app.js';
import { startDashboard } from '../http/dashboard/start.js';
import { attachEventSocket } from '../http/events-socket.js';
import { createLogger, type Logger } from '../log.js';
import type { OrthancClient } from '../orthanc/client.js';
import type { WriterSettings } from '../pipeline/approaches.js';
import { CursorStore } from './cursor.js';
import { SidecarEvents } from './events.js';
import { SidecarMetrics } from './metrics.js';
import { Sidecar } from './service.js';

/** How long a stop may take before the study in hand is abandoned (it is idempotent, so safe). */
const STOP_GRACE_MS = 8000;

/** Options of the sidecar command. */
export interface RunOptions {
  readonly fromBeginning: boolean;
}

/** Starts everything; resolves when a signal has stopped it cleanly. */
export async function runSidecar(config: Config, client: OrthancClient, settings: WriterSettings, options: RunOptions, rootLog: Logger = createLogger(config.logLevel)): Promise<void> {
  // Every line names the replica, so the logs of several replicas merged in one collector say who claimed what.
  const log = rootLog.child({ replica: config.replicaId });
  const events = new SidecarEvents();
  const metrics = new SidecarMetrics();
  metrics.follow(events);
  const sidecar = new Sidecar({
    client,
    processor: {
      client,
      settings,
      approaches: config.approaches,
      now: () => new Date(),
      events,
      log,
      owner: config.replicaId,
      leaseMs: config.leaseMs,
      maxAttempts: config.maxAttempts,
      retryBaseMs: config.retryBaseMs,
      metrics,
    },
    cursor: new CursorStore(config.stateDir),
    events,
    metrics,
    log,
    pollIntervalMs: config.pollIntervalMs,
    sweepIntervalMs: config.sweepIntervalMs,
    labels: config.labels,
    labelIntervalMs: config.labelIntervalMs,
    startFrom: options.fromBeginning ? 'beginning' : 'head',
    concurrency: config.concurrency,
    segmentation: config.segmentation,
    inputs: config.inputs,
  });
  const dashboard = startDashboard(config, client, sidecar, metrics, log);
  const app = createApp({ client, sidecar, metrics, log, now: () => new Date(), dashboard: dashboard.router, ...(config.apiToken ? { apiToken: config.apiToken } : {}) });
  const server = createServer(app);
  const closeSocket = attachEventSocket(server, events);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new Error(`KV_HTTP_PORT ${config.httpPort} is already in use; choose another port`) : error),
    );
    server.listen(config.httpPort, () => resolve());
  });
  log.info({ event: 'start', orthanc: client.baseUrl, httpPort: config.httpPort, approaches: config.approaches, replica: config.replicaId, leaseMs: config.leaseMs, concurrency: config.concurrency, stateDir: config.stateDir }, 'sidecar started');
  if (config.timeZoneFromMachine) {
    // In a container the machine's zone is usually UTC, which shifts every study time written without TimezoneOffsetFromUTC.
    log.warn({ event: 'timezone', timeZone: config.timeZone, TZ: process.env['TZ'] ?? null }, `KV_TIMEZONE is not set: study times without TimezoneOffsetFromUTC, the SR's ContentTime and FHIR times use this machine's zone ${config.timeZone}; set KV_TIMEZONE to the modalities' zone (e.g. Europe/Berlin)`);
  }
  sidecar.start();

  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ event: 'signal', signal }, 'stopping');
      const abandon = setTimeout(() => {
        log.warn({ event: 'abandon' }, 'the study in hand did not finish in time; abandoning it (the next start completes it)');
        resolve();
      }, STOP_GRACE_MS);
      abandon.unref();
      sidecar
        .stop()
        .catch((error: unknown) => log.error({ err: String(error) }, 'error while stopping'))
        .finally(() => {
          clearTimeout(abandon);
          resolve();
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await dashboard.stop();
  await closeSocket();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
