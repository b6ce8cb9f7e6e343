/** Opens the study index, starts following Orthanc into it, and builds the dashboard's router. */
import type { Router } from 'express';
import type { Config } from '../../config.js';
import { IndexFeed } from '../../index/feed.js';
import { StudyIndex } from '../../index/store.js';
import type { Logger } from '../../log.js';
import type { OrthancClient } from '../../orthanc/client.js';
import type { MetricsView } from '../sidecar-view.js';
import { dashboardRouter } from './router.js';

/** The running dashboard. */
export interface RunningDashboard {
  readonly router: Router;
  /** Stops the index follower and closes the index file. */
  stop(): Promise<void>;
}

/** Starts the dashboard's index and answers its router. */
export function startDashboard(config: Config, client: OrthancClient, sidecar: { readonly ready: boolean; wake(studyId?: string): void }, metrics: MetricsView, log: Logger): RunningDashboard {
  const now = (): Date => new Date();
  const index = StudyIndex.open(config.stateDir, now);
  if (index.openedAs !== 'existing') log.warn({ event: 'index-open', openedAs: index.openedAs, stateDir: config.stateDir }, `study index ${index.openedAs}: it is filled from Orthanc in the background`);
  const feed = new IndexFeed({ client, index, log, pollIntervalMs: config.indexPollIntervalMs, now });
  feed.start();
  const router = dashboardRouter({
    client,
    index,
    feed,
    metrics,
    sidecar,
    log,
    ...(config.apiToken ? { apiToken: config.apiToken } : {}),
    replicaId: config.replicaId,
    orthancPublicUrl: config.orthancPublicUrl,
    allowedOrigins: config.dashboardOrigins,
    now,
  });
  return {
    router,
    stop: async () => {
      await feed.stop();
      index.close();
    },
  };
}
