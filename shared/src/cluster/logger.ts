import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * JSON logs on stderr for the cluster processes (stdout stays free for --json output).
 * Secret-looking fields are redacted wherever they appear, as a second line of defence.
 */
export function createLogger(service: string, level = process.env.SAFESIFT_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      name: `safesift-${service}`,
      level,
      base: { service, pid: process.pid },
      redact: { paths: ['pass', 'password', 'token', '*.pass', '*.password', '*.token', '*.secretAccessKey'], censor: '[redacted]' },
    },
    pino.destination(2),
  );
}
