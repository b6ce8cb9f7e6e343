/**
 * What the code logs through, without pino: the sidecar's pino logger (log.ts) satisfies it, and so
 * does silentLogger, which the CLI's commands use (they report on stdout), so that they never load
 * pino (issue 17: it was about 25 ms of every `attach` start, to log nothing).
 */
import type { Bindings, LogFn } from 'pino';

/** A logger: the levels the code uses, and child loggers with bindings. */
export interface Logger {
  readonly error: LogFn;
  readonly warn: LogFn;
  readonly info: LogFn;
  readonly debug: LogFn;
  child(bindings: Bindings): Logger;
}

const ignore: LogFn = () => undefined;

/** A logger that writes nothing (pino's level "silent"), loading no logging library. */
export const silentLogger: Logger = { error: ignore, warn: ignore, info: ignore, debug: ignore, child: () => silentLogger };
