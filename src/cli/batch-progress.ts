/**
 * Progress of attach --batch on stderr: a cli-progress bar on a terminal (with each failed row
 * logged above it), and one plain line per row otherwise, so logs and CI output stay readable.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { Progress } from '../pipeline/approaches.js';
import type { Output } from './output.js';

/** How a row ended. */
export type RowStatus = 'written' | 'already-done' | 'failed' | 'not-attempted';

/** What happened to one row. */
export interface RowResult {
  readonly line: number;
  readonly study: string;
  readonly status: RowStatus;
  readonly studyId?: string;
  readonly digest?: string;
  readonly outcomes?: readonly { readonly approach: string; readonly alreadyPresent: boolean; readonly summary: string }[];
  readonly error?: { readonly kind: string; readonly message: string };
}

/** Receives the batch's progress. */
export interface BatchProgress {
  /** A row starts. */
  start(line: number, study: string): void;
  /** Progress inside the row (the private step's images). */
  step(progress: Progress): void;
  /** A row ended. */
  done(result: RowResult): void;
  /** The batch ended: leave the terminal clean for the summary. */
  stop(): void;
}

/** A bar when the stream is a terminal, else plain lines through io.err. */
export function batchProgress(total: number, io: Output, stream: NodeJS.WriteStream = process.stderr): BatchProgress {
  return stream.isTTY ? barProgress(total, stream) : lineProgress(total, io);
}

/** One line for people about a finished row. */
export function rowLine(result: RowResult): string {
  const where = `line ${result.line}${result.study !== '' ? ` (${result.study})` : ''}`;
  const approaches = (result.outcomes ?? []).map((o) => o.approach).join(', ');
  switch (result.status) {
    case 'written':
      return `${where}: written and verified (${approaches})`;
    case 'already-done':
      return `${where}: already done, skipped: nothing written (${approaches} verified)`;
    case 'failed':
      return `${where}: failed: ${result.error?.message ?? 'unknown error'}`;
    case 'not-attempted':
      return `${where}: not attempted`;
  }
}

function lineProgress(total: number, io: Output): BatchProgress {
  let count = 0;
  return {
    start: () => undefined,
    step: () => undefined,
    done: (result) => io.err(`[${++count}/${total}] ${rowLine(result)}`),
    stop: () => undefined,
  };
}

function barProgress(total: number, stream: NodeJS.WriteStream): BatchProgress {
  const multi = new MultiBar(
    {
      stream,
      format: ' {bar} {value}/{total} rows | {row}',
      // Keep the cursor: a Ctrl-C mid-batch must not leave the terminal without one.
      hideCursor: false,
      clearOnComplete: false,
      etaBuffer: 20,
    },
    Presets.shades_classic,
  );
  const bar: SingleBar = multi.create(total, 0, { row: '' });
  let current = '';
  return {
    start: (line, study) => {
      current = `line ${line} ${study}`;
      bar.update({ row: current });
    },
    step: (p) => bar.update({ row: `${current}: ${p.approach} ${p.done}/${p.total}` }),
    done: (result) => {
      if (result.status === 'failed') multi.log(`${rowLine(result)}\n`);
      bar.increment(1, { row: current });
    },
    stop: () => multi.stop(),
  };
}
