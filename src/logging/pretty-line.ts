/**
 * One log record as one short terminal line, for agent panes a third of a screen wide:
 *
 *   12:01:02 testing-3fa1b2 ▶ claimed t-17 (testing.run, attempt 1)
 *   12:01:02 testing-3fa1b2 › running 1/1: npm test
 *   12:01:03 testing-3fa1b2 ✓ completed t-17 in 812 ms
 *
 * Records with an `event` (the agent's milestones) say everything in their message, so their
 * bound fields stay in the JSON form only; other records show their fields as `key=value`.
 */

import { clip, visible } from '../util/text.js';

/** ANSI SGR codes: [on, off]. */
const STYLES = {
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
  gray: [90, 39],
  dim: [2, 22],
} as const;

type Style = keyof typeof STYLES;

interface Mark {
  glyph: string;
  style: Style;
}

/** The agent's milestones (`event` field), in the order a task lives through them. */
const EVENT_MARKS: Record<string, Mark> = {
  joined: { glyph: '●', style: 'green' },
  claimed: { glyph: '▶', style: 'cyan' },
  progress: { glyph: '›', style: 'gray' },
  completed: { glyph: '✓', style: 'green' },
  failed: { glyph: '✗', style: 'red' },
  'handed-back': { glyph: '↩', style: 'yellow' },
  left: { glyph: '○', style: 'gray' },
};

/** pino's numeric levels: 50 error, 40 warn, 30 info, 20 debug. */
function levelMark(level: number): Mark {
  if (level >= 50) return { glyph: '✗', style: 'red' };
  if (level >= 40) return { glyph: '!', style: 'yellow' };
  return { glyph: '·', style: 'gray' };
}

/** Shown in the line's prefix or not at all. */
const NOT_FIELDS = new Set(['time', 'level', 'msg', 'pid', 'hostname', 'agentId', 'event', 'err']);
const MAX_VALUE_CHARS = 80;

export function formatPrettyLine(log: Record<string, unknown>, colors: boolean): string {
  const paint = (style: Style, text: string): string =>
    colors ? `\x1b[${STYLES[style][0]}m${text}\x1b[${STYLES[style][1]}m` : text;
  const level = typeof log.level === 'number' ? log.level : 30;
  const milestone = typeof log.event === 'string' ? EVENT_MARKS[log.event] : undefined;
  const mark = milestone ?? levelMark(level);
  const parts = [paint('gray', clock(log.time))];
  if (typeof log.agentId === 'string') parts.push(paint('cyan', visible(log.agentId)));
  parts.push(paint(mark.style, mark.glyph));
  // A message may carry what a task printed or a model said: shown, never acted on.
  const message = typeof log.msg === 'string' ? visible(log.msg) : '';
  parts.push(level >= 40 ? paint(mark.style, message) : message);
  const err = errorText(log.err);
  if (err) parts.push(paint('red', `— ${err}`));
  if (!milestone) {
    const fields = Object.entries(log)
      .filter(([key, value]) => !NOT_FIELDS.has(key) && value !== undefined)
      .map(([key, value]) => `${key}=${fieldText(value)}`);
    if (fields.length > 0) parts.push(paint('gray', fields.join(' ')));
  }
  const line = parts.filter(Boolean).join(' ');
  return level < 30 ? paint('dim', line) : line;
}

function clock(time: unknown): string {
  const date = typeof time === 'number' ? new Date(time) : new Date();
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** The message of a serialized error; its stack is in the JSON form (`--log-file`). */
function errorText(err: unknown): string | undefined {
  if (err === undefined || err === null) return undefined;
  if (typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string')
    return visible((err as { message: string }).message);
  return fieldText(err);
}

function fieldText(value: unknown): string {
  const text =
    typeof value === 'string' && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return visible(clip(text, MAX_VALUE_CHARS));
}
