/** Progress of long work on a terminal: one line rewritten in place on stderr; silent when not a terminal. */
import type { Progress } from '../pipeline/approaches.js';
import type { Output } from './output.js';

/** A progress callback for the pipeline, or undefined when stderr is not a terminal. */
export function progressReporter(io: Output, stream: NodeJS.WriteStream = process.stderr): ((p: Progress) => void) | undefined {
  if (!stream.isTTY) return undefined;
  return (p) => {
    stream.write(`\r${p.approach}: ${p.done}/${p.total} (${Math.floor((100 * p.done) / Math.max(p.total, 1))}%)`);
    if (p.done >= p.total) io.err('');
  };
}
