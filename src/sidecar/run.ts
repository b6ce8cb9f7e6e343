/** Runs the sidecar daemon with its HTTP API until SIGTERM or SIGINT. */
import { createServer } from 'node:http';
import type { Config } from '../config.js';
import { ConfigError } from '../errors.js';
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
  const tokens = {
    ...(config.apiToken !== undefined ? { apiToken: config.apiToken } : {}),
    ...(config.metricsToken !== undefined ? { metricsToken: config.metricsToken } : {}),
    ...(config.hookToken !== undefined ? { hookToken: config.hookToken } : {}),
  };
  const dashboard = startDashboard(config, client, sidecar, metrics, log);
  const app = createApp({ client, sidecar, metrics, log, now: () => new Date(), dashboard: dashboard.router, ...tokens });
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, config)));
    server.listen(config.httpPort, config.httpHost, () => resolve());
  });
  // Only once listening: the WebSocket server re-emits the HTTP server's errors, and a listen
  // failure would then crash the process before it could say which variable to change.
  const closeSocket = attachEventSocket(server, events, config.apiToken);
  if (config.apiToken === undefined) log.warn({ event: 'no-token' }, 'KV_API_TOKEN is not set: every route but /health and /ready answers 403');
  // The child logger already names the replica.
  log.info({ event: 'start', orthanc: client.baseUrl, httpHost: config.httpHost, httpPort: config.httpPort, approaches: config.approaches, leaseMs: config.leaseMs, concurrency: config.concurrency, stateDir: config.stateDir }, 'sidecar started');
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
        .catch((error: unknown) => log.error({ err: error }, 'error while stopping'))
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

/** A listen failure a person can fix in the configuration (port taken, address not here) as a ConfigError naming the variable. */
function listenError(error: NodeJS.ErrnoException, config: Config): Error {
  const where = `${config.httpHost}:${config.httpPort}`;
  if (error.code === 'EADDRINUSE') {
    return new ConfigError('KV_HTTP_PORT', `port ${config.httpPort} is already in use (listening on ${where}): stop what listens there or set KV_HTTP_PORT to a free port`);
  }
  if (error.code === 'EACCES') {
    return new ConfigError('KV_HTTP_PORT', `port ${config.httpPort} needs privileges this process lacks: set KV_HTTP_PORT to 1024 or above`);
  }
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') {
    return new ConfigError('KV_HTTP_HOST', `KV_HTTP_HOST ${config.httpHost} is not an address of this machine (${error.code}): use 127.0.0.1, 0.0.0.0 or one of its addresses`);
  }
  return error;
}
