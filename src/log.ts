/** Structured JSON logs (pino), one line per event; credentials are redacted wherever they appear. */
import { pino, type Logger } from 'pino';

/** A logger. */
export type { Logger } from 'pino';

/** Makes the process logger at the configured level. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'kidney-volumes' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['password', '*.password', 'authorization', '*.authorization', 'headers.authorization', 'token', '*.token'], censor: '[redacted]' },
    },
    destination ?? process.stdout,
  );
}
