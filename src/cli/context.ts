/** What every command that talks to Orthanc needs: the configuration, a client, the writers' settings. */
import { loadConfig, type Config } from '../config.js';
import { OrthancClient } from '../orthanc/client.js';
import type { WriterSettings } from '../pipeline/approaches.js';

/** A client for the configured Orthanc. */
export function clientFor(config: Config): OrthancClient {
  return new OrthancClient({
    url: config.orthancUrl,
    ...(config.orthancUsername !== undefined ? { username: config.orthancUsername, password: config.orthancPassword ?? '' } : {}),
    timeoutMs: config.requestTimeoutMs,
    retries: config.retries,
    ...config.orthancTls,
  });
}

/** The writers' settings from the configuration. */
export function settingsOf(config: Config): WriterSettings {
  return {
    srSeriesNumber: config.srSeriesNumber,
    // Read when a step writes a time: finding this machine's zone has a cost (see loadConfig).
    get timeZone(): string {
      return config.timeZone;
    },
    privateScope: config.privateScope,
    keepSuperseded: config.keepSuperseded,
    ...(config.uidRoot !== undefined ? { uidRoot: config.uidRoot } : {}),
    ...(config.delivery !== undefined ? { delivery: config.delivery } : {}),
  };
}

/** The configuration from the environment, with its client and settings. */
export function contextOf(env: NodeJS.ProcessEnv): { config: Config; client: OrthancClient; settings: WriterSettings } {
  const config = loadConfig(env);
  return { config, client: clientFor(config), settings: settingsOf(config) };
}
