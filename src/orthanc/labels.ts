/**
 * Study labels (Orthanc 1.12 and later): a request label a person sets in Orthanc Explorer 2 to
 * ask for processing, and outcome labels the sidecar sets so admins can filter done and failed
 * studies. Whether the Orthanc has labels is read from /system (HasLabels), never from the version.
 */
import type { Logger } from '../log.js';
import type { OrthancClient } from './client.js';

/** Orthanc's rule for a label: letters, digits, dash and underscore (checked on 1.12.7: anything else is 400). */
export const LABEL_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The labels the sidecar reads and writes. */
export interface LabelSettings {
  /** Set by a person to ask for processing (KV_LABEL, default kidney-volumes). */
  readonly request: string;
  /** Set by the sidecar when the study is done, and when it failed; each removed when the state changes. */
  readonly done: string;
  readonly failed: string;
}

/** The default names; the outcome labels follow the request label (`<label>-done`, `<label>-failed`). */
export function labelSettings(request = 'kidney-volumes'): LabelSettings {
  if (!LABEL_PATTERN.test(request)) throw new Error(`must be 1 to 64 letters, digits, dashes or underscores (Orthanc's rule for labels), got "${request}"`);
  return { request, done: `${request}-done`, failed: `${request}-failed` };
}

/** What this Orthanc can do for the sweep and the labels, from /system. */
export interface OrthancFeatures {
  /** Labels on studies (1.12+, HasLabels). */
  readonly labels: boolean;
  /** /tools/find takes MetadataQuery (1.12.5+, Capabilities.HasExtendedFind). */
  readonly metadataQuery: boolean;
}

/** Reads the features from /system. */
export async function orthancFeatures(client: OrthancClient): Promise<OrthancFeatures> {
  const system = await client.system();
  return { labels: system.HasLabels === true, metadataQuery: system.Capabilities?.HasExtendedFind === true };
}

/** IDs of the studies that carry the label (one /tools/find; Orthanc answers IDs only). */
export function studiesLabelled(client: OrthancClient, label: string): Promise<string[]> {
  return client.findStudies({ Labels: [label], LabelsConstraint: 'All' });
}

/** IDs of the studies that have the metadata set, whatever its value (needs metadataQuery). */
export function studiesWithMetadata(client: OrthancClient, name: string): Promise<string[]> {
  return client.findStudies({ MetadataQuery: { [name]: '*' } });
}

/** The states the outcome labels reflect. */
export type LabelledState = 'processing' | 'done' | 'failed';

/**
 * Makes the outcome labels match a state written to the study's status: done sets the done label,
 * failed the failed label, and each removes the other; processing removes both. A finished state
 * also removes the request label: the request has been answered (set it again to ask again).
 */
export async function reflectState(client: OrthancClient, settings: LabelSettings, studyId: string, state: LabelledState): Promise<void> {
  const set = state === 'done' ? [settings.done] : state === 'failed' ? [settings.failed] : [];
  const remove = [settings.done, settings.failed, ...(state === 'processing' ? [] : [settings.request])].filter((l) => !set.includes(l));
  for (const label of set) await client.addStudyLabel(studyId, label);
  for (const label of remove) await client.removeStudyLabel(studyId, label);
}

/**
 * Keeps the outcome labels of each study in step with the status writes announced as events:
 * writes for one study are applied in order, a failure is logged (the next state change corrects
 * it). Does nothing on an Orthanc without labels.
 */
export class OutcomeLabels {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private readonly client: OrthancClient,
    private readonly settings: LabelSettings,
    private readonly features: () => Promise<OrthancFeatures>,
    private readonly log: Logger,
  ) {}

  /** Queues the label writes for one state change of one study. */
  reflect(studyId: string, state: LabelledState): void {
    const previous = this.chains.get(studyId) ?? Promise.resolve();
    const next = previous
      .then(async () => {
        if (!(await this.features()).labels) return;
        await reflectState(this.client, this.settings, studyId, state);
      })
      .catch((error: unknown) => this.log.warn({ studyId, event: 'labels-failed', state, err: error }, `could not set the ${state} labels`));
    this.chains.set(studyId, next);
    void next.finally(() => {
      if (this.chains.get(studyId) === next) this.chains.delete(studyId);
    });
  }

  /** Resolves once every queued label write has landed (or failed). */
  async flush(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }
}
