/** Where the CLI's output goes: kept apart from output.ts so that starting the CLI loads nothing else. */

/** Where output goes (passed in so tests and the menu can capture it). */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** The process's stdout and stderr. */
export const processOutput: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

