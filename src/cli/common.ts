import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { loadConfig, type CommonFlags, type Config } from '../config/load.js';
import { DEFAULTS } from '../config/defaults.js';
import { EXIT, SheriError } from '../errors.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { busSecurity } from '../auth/bus-security.js';
import { loadKeyring, requireSigningKey } from '../auth/load-keyring.js';
import type { Bus } from '../transport/bus.js';
import { tlsOf } from '../transport/tls-files.js';
import { visible, visibleJson } from '../util/text.js';

export interface GlobalFlags extends CommonFlags {
  logLevel?: string;
  logFormat?: 'pretty' | 'json';
  logFile?: string;
  json?: boolean;
}

export function makeConfig(flags: GlobalFlags, overrides: Partial<Config> = {}): Config {
  return loadConfig(flags, process.env, overrides);
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export function makeLogger(flags: GlobalFlags): Logger {
  const format = flags.logFormat;
  if (format !== undefined && format !== 'pretty' && format !== 'json') {
    throw new SheriError(`--log-format must be "pretty" or "json", got "${String(format)}"`);
  }
  const level = flags.logLevel ?? 'info';
  if (!LOG_LEVELS.includes(level)) {
    throw new SheriError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  }
  try {
    return createLogger({
      level,
      ...(format ? { format } : {}),
      ...(flags.logFile ? { file: resolve(flags.logFile) } : {}),
    });
  } catch (error) {
    throw new SheriError(
      `--log-file ${flags.logFile}: cannot write it: ${(error as Error).message}`,
      EXIT.usage,
      { cause: error },
    );
  }
}

export function shortId(): string {
  return randomBytes(3).toString('hex');
}

export function resolveDataDir(dir: string | undefined): string {
  return resolve(dir ?? DEFAULTS.dataDir);
}

export function unreachable(url: string): SheriError {
  return new SheriError(
    `no MQTT broker at ${url} — start one with \`sheri up\` or point --broker at yours`,
    EXIT.unavailable,
  );
}

/**
 * A short-lived client for a CLI command, logged in as the local operator (or `--credentials`;
 * PROTOCOL §15.2): gives up with a plain message after `waitMs`. `reader` commands (trace) also
 * work without credentials, as an anonymous loopback reader.
 */
export async function connectCli(
  config: Config,
  logger: Logger,
  waitMs = 5_000,
  as: 'operator' | 'reader' = 'operator',
): Promise<Bus> {
  const { Bus, isRefusedLogin } = await import('../transport/bus.js');
  const keyring = loadKeyring(config, { kind: as });
  const login = keyring.mqttLogin;
  const bus = Bus.open({
    url: config.broker,
    swarm: config.swarm,
    sender: { agentId: keyring.self?.ref.name ?? `cli-${shortId()}`, role: 'operator' },
    clientId: `sheri-cli-${shortId()}`,
    logger: logger.child({}, { level: 'error' }),
    maxPayloadBytes: config.maxPayloadBytes,
    maxJsonDepth: config.maxJsonDepth,
    // A reader checks what it can and never reports (PROTOCOL §9.2, §15.4).
    security: busSecurity(config, keyring, false),
    report: false,
    ...(login ? { username: login.username, password: login.password } : {}),
    ...tlsOf(config),
  });
  let refused: Error | undefined;
  bus.client.once('error', (error) => {
    if (isRefusedLogin(error)) refused = error;
  });
  try {
    await bus.ready(AbortSignal.timeout(waitMs), true);
  } catch {
    if (refused) {
      throw new SheriError(
        `the broker at ${config.broker} refused ${login ? `the login of "${login.username}"` : 'an anonymous connection'} (${refused.message}) — ${login ? 'check --credentials / --username, or sheri credentials list where the broker runs' : "pass --credentials, or run this where the swarm's data directory is (--data-dir)"}`,
        EXIT.unavailable,
      );
    }
    throw unreachable(config.broker);
  }
  // Said once a broker answered, so "no broker" is told first: it is the likelier mistake.
  if (as === 'operator') {
    try {
      requireSigningKey(config, keyring, 'this command');
    } catch (error) {
      await bus.destroy();
      throw error;
    }
  }
  return bus;
}

/** JSON on stdout (`--json`), with nothing in it a terminal would act on (visibleJson). */
export function printJson(value: unknown): void {
  process.stdout.write(`${visibleJson(JSON.stringify(value, null, 2))}\n`);
}

/**
 * Text on stdout made of what the swarm said (ids, errors, results, a model's words): shown,
 * never acted on by the terminal (visible: no escape sequences, no carriage returns).
 */
export function printText(text: string): void {
  process.stdout.write(visible(text));
}

/** Plain aligned columns, the way `docker ps` prints them. */
export function printTable(headers: string[], shown: string[][]): void {
  const rows = shown.map((row) => row.map((cell) => visible(cell)));
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${[line(headers), ...rows.map(line)].join('\n')}\n`);
}

export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return '-';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m ago`;
  return `${Math.round(seconds / 3600)}h ago`;
}

/**
 * Resolve on the first SIGINT or SIGTERM; a second one exits at once (a user who presses
 * Ctrl-C twice means it).
 */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolveSignal) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      process.once('SIGINT', () => process.kill(process.pid, 'SIGKILL'));
      resolveSignal(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
