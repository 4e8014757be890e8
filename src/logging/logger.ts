import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level?: string;
  format?: 'pretty' | 'json';
  /** Where lines go; stderr by default so stdout stays for data (`--json`). */
  fd?: number;
}

const REDACT = [
  '*.password',
  '*.token',
  '*.apiKey',
  '*.api_key',
  '*.secret',
  'env.ANTHROPIC_API_KEY',
];

/** The one root logger of a process; components take `logger.child({ agentId, taskId })`. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const fd = options.fd ?? 2;
  const format = options.format ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const base = { level: options.level ?? 'info', redact: REDACT, base: undefined };
  if (format === 'json') return pino(base, pino.destination({ fd, sync: true }));
  const stream = pretty({
    destination: fd,
    sync: true,
    colorize: true,
    translateTime: 'HH:MM:ss',
    ignore: 'pid,hostname',
  });
  return pino(base, stream);
}

/** For library use and tests: a logger that writes nothing. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
