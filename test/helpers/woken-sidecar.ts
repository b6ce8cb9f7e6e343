/**
 * A real sidecar that reads Orthanc's changes feed once at start and then sleeps for a minute
 * between reads: what it does sooner, only a wake-up from Orthanc's Lua script can have asked for.
 */
import { runSidecar, type RunningSidecar } from './sidecar-process.js';

/** Starts the sidecar on `port` with the hook's secret and resolves once it is ready (it has read the feed). */
export async function runWokenSidecar(port: number, orthancEnv: Readonly<Record<string, string>>, hookToken: string): Promise<RunningSidecar> {
  const sidecar = await runSidecar({
    port,
    env: { ...orthancEnv, KV_HOOK_TOKEN: hookToken, KV_POLL_INTERVAL_MS: '60000', KV_SWEEP_INTERVAL_MS: '3600000', KV_LOG_LEVEL: 'info', KV_RETRIES: '1' },
  });
  const deadline = Date.now() + 20_000;
  while (!(await fetch(`${sidecar.url}/ready`).then((r) => r.ok, () => false))) {
    if (Date.now() > deadline) throw new Error(`the sidecar never became ready:\n${sidecar.stdout()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return sidecar;
}
