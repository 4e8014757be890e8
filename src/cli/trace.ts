import { SheriError } from '../errors.js';
import { silentLogger } from '../logging/logger.js';
import { localTopic } from '../protocol/topics.js';
import { decodeBusEvent } from '../dashboard/bus-event.js';
import { clock } from '../dashboard/format.js';
import { summarizeEvent } from '../dashboard/summarize.js';
import { visible, visibleJson } from '../util/text.js';
import { connectCli, makeConfig, makeLogger, untilSignal, type GlobalFlags } from './common.js';

interface TraceFlags extends GlobalFlags {
  filter?: string[];
  raw?: boolean;
}

/**
 * An MQTT topic filter (MQTT-4.7.1): `#` only as the whole last level, `+` only as a whole level.
 * Returns why it is not one, or undefined.
 */
export function checkTopicFilter(filter: string): string | undefined {
  const levels = filter.split('/');
  if (filter === '' || filter.startsWith('/')) return 'is empty or starts with "/"';
  for (const [i, level] of levels.entries()) {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      return 'may have "#" only as the whole last level, as in "tasks/#"';
    }
    if (level.includes('+') && level !== '+') {
      return 'may have "+" only as a whole level, as in "agents/+/status"';
    }
  }
  return undefined;
}

/**
 * One line per message: time, topic, sender, what it says — any client's words, so shown, never
 * acted on by the terminal (visible).
 */
export function formatTraceLine(
  at: number,
  local: string,
  bytes: Buffer,
  retained: boolean,
): string {
  const summary = summarizeEvent(decodeBusEvent(local, bytes));
  const mark = retained ? ' [retained]' : '';
  return visible(
    `${clock(at)}  ${local.padEnd(16)} ${summary.agent.padEnd(16)} ${summary.text}${mark}`,
  );
}

/** `--raw`: the whole message as one JSON line, for jq. */
export function formatRawLine(at: number, local: string, bytes: Buffer, retained: boolean): string {
  const text = bytes.toString('utf8');
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return visibleJson(
      JSON.stringify({ time: new Date(at).toISOString(), topic: local, retained, text }),
    );
  }
  return visibleJson(
    JSON.stringify({ time: new Date(at).toISOString(), topic: local, retained, message }),
  );
}

/** The marker of a broker outage: lines published meanwhile are missing from the trace. */
export function formatGapLine(
  at: number,
  what: 'lost' | 'back',
  broker: string,
  raw: boolean,
): string {
  const text =
    what === 'lost'
      ? `connection to ${broker} lost; reconnecting — messages published meanwhile will be missing`
      : `reconnected to ${broker}; messages published while it was away are missing above (retained ones come again)`;
  if (raw) return JSON.stringify({ time: new Date(at).toISOString(), broker: what, text });
  return `${clock(at)}  ---- ${text}`;
}

export async function runTrace(flags: TraceFlags): Promise<void> {
  const filters = flags.filter?.length ? flags.filter : ['#'];
  for (const filter of filters) {
    const problem = checkTopicFilter(filter);
    if (problem) throw new SheriError(`--filter "${filter}" ${problem}`);
  }
  makeLogger(flags); // validates --log-format like every command
  const config = makeConfig(flags);
  // Without credentials, an anonymous loopback reader: it sees redacted copies (§15.3).
  const bus = await connectCli(config, silentLogger(), 5_000, 'reader');
  const format = flags.raw ? formatRawLine : formatTraceLine;
  // `sheri trace | head` closes the pipe: stop quietly rather than die on EPIPE.
  const pipeClosed = new Promise<void>((resolve) => process.stdout.once('error', () => resolve()));
  bus.client.on('message', (topic, bytes, packet) => {
    const local = localTopic(config.swarm, topic);
    if (local === undefined) return;
    process.stdout.write(`${format(Date.now(), local, bytes, packet.retain)}\n`);
  });
  // Messages published while the broker was away are not in the trace: say where the gap is.
  let lostAt: number | undefined;
  bus.client.on('offline', () => {
    if (lostAt !== undefined) return;
    lostAt = Date.now();
    process.stdout.write(`${formatGapLine(lostAt, 'lost', config.broker, Boolean(flags.raw))}\n`);
  });
  bus.client.on('connect', () => {
    if (lostAt === undefined) return;
    lostAt = undefined;
    process.stdout.write(
      `${formatGapLine(Date.now(), 'back', config.broker, Boolean(flags.raw))}\n`,
    );
  });
  try {
    await bus.subscribe(Object.fromEntries(filters.map((filter) => [filter, 1 as const])));
    process.stderr.write(
      `tracing ${filters.map((f) => `${config.swarm}/${f}`).join(', ')} on ${config.broker} (Ctrl-C stops)\n`,
    );
    // Our credential revoked or rotated meanwhile: nothing more would reach us (exit 3).
    const ended = await Promise.race([untilSignal(), pipeClosed, bus.loginRefused()]);
    if (ended instanceof SheriError) throw ended;
  } finally {
    await bus.close();
  }
}
