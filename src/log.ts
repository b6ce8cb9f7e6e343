/** Structured JSON logs (pino), one line per event; credentials are redacted wherever they appear. */
import { pino, type Logger as PinoLogger } from 'pino';

export type { Logger } from './logger.js';

/** Makes the process logger at the configured level. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): PinoLogger {
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
