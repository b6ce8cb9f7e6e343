/**
 * Reads the sidecars' JSON log lines back into what each replica claimed, took over, lost, wrote
 * and finished, so a test can check that every claim is accounted for across replicas.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** One log line of interest. */
export interface LogEvent {
  readonly replica: string;
  readonly event: string;
  readonly studyId?: string;
  readonly stage?: string;
  readonly approach?: string;
  readonly alreadyPresent?: boolean;
}

/** What one replica's log says it did. */
export interface ReplicaTally {
  readonly replica: string;
  readonly claimed: number;
  readonly tookOver: number;
  /** Claim races lost (another writer won the compare-and-set). */
  readonly lost: number;
  /** Studies in hand whose lease was lost (renewal or final write conflicted). */
  readonly leaseLost: number;
  readonly retrying: number;
  readonly done: number;
  readonly failed: number;
  /** Studies claimed or taken over with no outcome logged after it (in hand when the log ends). */
  readonly inHand: readonly string[];
}

/** Parses a process's stdout: one JSON object per line, other lines ignored. */
export function parseLog(stdout: string): LogEvent[] {
  const events: LogEvent[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const value = JSON.parse(line) as Partial<LogEvent>;
      if (typeof value.event === 'string' && typeof value.replica === 'string') events.push(value as LogEvent);
    } catch {
      // A line cut by kill -9 is not an event.
    }
  }
  return events;
}

/** Counts one replica's claims and their outcomes. */
export function tally(replica: string, events: readonly LogEvent[]): ReplicaTally {
  const count = (event: string, stage?: string): number => events.filter((e) => e.event === event && (stage === undefined || e.stage === stage)).length;
  const open = new Set<string>();
  for (const e of events) {
    if (e.studyId === undefined) continue;
    if (e.event === 'claimed' || e.event === 'took-over') open.add(e.studyId);
    if (e.event === 'done' || e.event === 'retrying' || e.event === 'failed' || (e.event === 'lost' && e.stage !== 'claim') || e.event === 'gone') open.delete(e.studyId);
  }
  return {
    replica,
    claimed: count('claimed'),
    tookOver: count('took-over'),
    lost: count('lost', 'claim'),
    leaseLost: count('lost') - count('lost', 'claim'),
    retrying: count('retrying'),
    done: count('done'),
    failed: count('failed'),
    inHand: [...open],
  };
}

/** Per study and approach, the replicas that wrote it for the first time (alreadyPresent false). */
export function firstWriters(events: readonly LogEvent[]): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  for (const e of events) {
    if (e.event !== 'write' || e.alreadyPresent !== false || e.studyId === undefined || e.approach === undefined) continue;
    const byApproach = out.get(e.studyId) ?? new Map<string, string[]>();
    byApproach.set(e.approach, [...(byApproach.get(e.approach) ?? []), e.replica]);
    out.set(e.studyId, byApproach);
  }
  return out;
}

/** The process ID of the Orthanc started with this folder's orthanc.json (startOrthanc keeps the child to itself). */
export function orthancPid(folder: string): number {
  const wanted = `${folder}/orthanc.json`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(wanted)) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  throw new Error(`no running Orthanc with ${wanted}`);
}
