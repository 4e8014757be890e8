import { createRequire } from 'node:module';
import { isatty, type WriteStream } from 'node:tty';
import type * as PinoModule from 'pino';
import type { DestinationStream, LogFn, Logger } from 'pino';
import type { PrettyOptions } from 'pino-pretty';
import { formatPrettyLine } from './pretty-line.js';
import { CENSOR, redactSecrets, redactText } from './redact.js';

export type { Logger } from 'pino';

export type LogFormat = 'pretty' | 'json';

export interface LoggerOptions {
  level?: string;
  /** Default: pretty on a terminal, JSON lines otherwise (`chooseFormat`). */
  format?: LogFormat;
  /** Where lines go; stderr by default so stdout stays for data (`--json`). */
  fd?: number;
  /** Also append JSON lines to this file, whatever the terminal's format (`--log-file`). */
  file?: string;
  /** Colours in pretty lines; default: the terminal says it has them (honours NO_COLOR). */
  colorize?: boolean;
  /** Whether `fd` is a terminal; detected unless given (tests). */
  isTTY?: boolean;
}

/** pino on first use: `sheri --help` and other commands that log nothing do not load it. */
const loadPino = (): typeof PinoModule =>
  createRequire(import.meta.url)('pino') as typeof PinoModule;

const BOUND_SECRETS = ['password', 'token', 'apiKey', 'api_key', 'secret', 'authorization'];

export function chooseFormat(format: LogFormat | undefined, isTTY: boolean): LogFormat {
  return format ?? (isTTY ? 'pretty' : 'json');
}

/** The one root logger of a process; components take `logger.child({ agentId, taskId })`. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { pino } = loadPino();
  const fd = options.fd ?? 2;
  const tty = options.isTTY ?? isatty(fd);
  const level = options.level ?? 'info';
  const terminal =
    chooseFormat(options.format, tty) === 'json'
      ? pino.destination({ fd, sync: true })
      : prettyStream(fd, options.colorize ?? (tty && terminalHasColors(fd)));
  const settings = {
    level,
    base: undefined,
    hooks: { logMethod: redactArguments },
    // Child bindings never pass the hook: pino's own redaction covers them by path.
    redact: { paths: BOUND_SECRETS, censor: CENSOR },
  };
  if (!options.file) return pino(settings, terminal);
  // Synchronous appends: a line is on disk before a crash, and agents of one swarm may share a
  // file (O_APPEND keeps each line whole).
  const file = pino.destination({ dest: options.file, append: true, mkdir: true, sync: true });
  return pino(
    settings,
    // Both streams take every line the logger lets through; the logger's level decides.
    pino.multistream([
      { level: 'trace', stream: terminal },
      { level: 'trace', stream: file },
    ]),
  );
}

/** pino-pretty only where lines are pretty: JSON logs (agents under a supervisor) skip its load. */
function prettyStream(fd: number, colors: boolean): DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as (
    options: PrettyOptions,
  ) => DestinationStream;
  return pretty({
    destination: fd,
    sync: true,
    // The whole line is ours (pretty-line.ts): pino-pretty only parses and writes.
    colorize: false,
    hideObject: true,
    ignore: 'time,level,pid,hostname',
    messageFormat: (log) => formatPrettyLine(log, colors),
  });
}

function terminalHasColors(fd: number): boolean {
  const stream = fd === 1 ? process.stdout : fd === 2 ? process.stderr : undefined;
  return stream?.isTTY === true && (stream as WriteStream).hasColors();
}

/**
 * Secrets out of every record before pino sees it: object fields by name, and credentials written
 * into message strings (a broker URL with a password), which pino's path redaction cannot reach.
 */
function redactArguments(this: Logger, args: Parameters<LogFn>, method: LogFn): void {
  const cleaned = args.map((arg: unknown, index) =>
    typeof arg === 'string' ? redactText(arg) : index === 0 ? redactSecrets(arg) : arg,
  );
  method.apply(this, cleaned as Parameters<LogFn>);
}

/** For library use and tests: a logger that writes nothing. */
export function silentLogger(): Logger {
  return loadPino().pino({ level: 'silent' });
}
