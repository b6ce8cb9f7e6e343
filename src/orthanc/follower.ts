/** What every follower of Orthanc's changes log (the sidecar's feed, the dashboard's index) is given and shares. */
import { errorKind } from '../errors.js';
import type { Logger } from '../log.js';
import type { OrthancClient } from './client.js';

/** The client a follower reads the log with, where it logs, and how often it looks again. */
export interface ChangesFollowerDeps {
  readonly client: OrthancClient;
  readonly log: Logger;
  /** Wait before reading the log again once it is read to its end (and the first step of the backoff after a failure). */
  readonly pollIntervalMs: number;
}

/**
 * The resource a change names, or undefined when Orthanc no longer has it: changes are read after
 * the fact, and the resource may have been deleted since. Any other fault is thrown.
 */
export async function unlessDeleted<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (error) {
    if (errorKind(error) === 'not-found') return undefined;
    throw error;
  }
}
