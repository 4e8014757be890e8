import type { FlowUpdate, StepView } from '../protocol/flow-messages.js';
import type { FlowDetail, StepDetail } from '../tasks/flow-queries.js';
import { visible } from '../util/text.js';

/**
 * How `sheri flow run --wait` and `sheri demo` show a flow (PROTOCOL §17): pure functions from
 * what the hub said (and the latest progress line of each running step) to lines of text. The
 * live view (flow-live.ts) redraws them in place on a terminal; piped, one line per change.
 */

export interface Paint {
  ok(text: string): string;
  bad(text: string): string;
  busy(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

const plain = (text: string): string => text;
export const NO_PAINT: Paint = { ok: plain, bad: plain, busy: plain, dim: plain, bold: plain };

const sgr =
  (on: string, off: string) =>
  (text: string): string =>
    `\x1b[${on}m${text}\x1b[${off}m`;
export const ANSI_PAINT: Paint = {
  ok: sgr('32', '39'),
  bad: sgr('31', '39'),
  busy: sgr('36', '39'),
  dim: sgr('2', '22'),
  bold: sgr('1', '22'),
};

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export function stepIcon(state: StepView['state'], frame: number, paint: Paint): string {
  switch (state) {
    case 'complete':
      return paint.ok('✓');
    case 'failed':
      return paint.bad('✗');
    case 'running':
      return paint.busy(SPINNER[frame % SPINNER.length]!);
    case 'queued':
      return paint.busy('…');
    case 'skipped':
      return paint.dim('-');
    case 'canceled':
      return paint.bad('⊘');
    case 'waiting':
      return paint.dim('·');
  }
}

/** "0.4 s", "12 s", "3 m 05 s". */
export function formatDuration(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} m ${String(seconds % 60).padStart(2, '0')} s`;
}

/** How long a step ran, or has run so far. */
export function stepDuration(step: StepView, now: number): number | undefined {
  if (!step.started_at) return undefined;
  const end = step.finished_at ? Date.parse(step.finished_at) : now;
  return Math.max(0, end - Date.parse(step.started_at));
}

export interface LiveState {
  update: FlowUpdate;
  /** The latest progress line of each step's task, by task id (as agents said it). */
  progress: ReadonlyMap<string, string>;
  /** What each waiting step waits for, by step id: `needs a, b`, `if health fails`. */
  waitsFor: ReadonlyMap<string, string>;
  now: number;
  frame: number;
}

/** The live view: a header, then one line per step (state, agent, time, what it is doing). */
export function liveLines(state: LiveState, width: number, paint: Paint): string[] {
  const { update, now } = state;
  const elapsed =
    (update.finished_at ? Date.parse(update.finished_at) : now) - Date.parse(update.created_at);
  const header = `${paint.bold(`flow ${update.flow_id}`)}  ${flowState(update.state, paint)}  ${formatDuration(Math.max(0, elapsed))}`;
  const idWidth = Math.max(4, ...update.steps.map((step) => step.id.length));
  const agentWidth = Math.max(5, ...update.steps.map((step) => (step.agent_id ?? '').length));
  const lines = update.steps.map((step) => {
    const duration = stepDuration(step, now);
    const detail =
      step.state === 'running'
        ? (state.progress.get(step.task_id ?? '') ?? '')
        : step.state === 'waiting'
          ? waitingFor(step, state)
          : '';
    const cells = [
      `  ${stepIcon(step.state, state.frame, paint)} ${step.id.padEnd(idWidth)}`,
      (step.agent_id ?? '').padEnd(agentWidth),
      step.state.padEnd(8),
      (duration === undefined ? '' : formatDuration(duration)).padStart(7),
      paint.dim(detail),
    ];
    return cells.join('  ').trimEnd();
  });
  return [header, ...lines].map((line) => cut(line, width));
}

function waitingFor(step: StepView, state: LiveState): string {
  return state.waitsFor.get(step.id) ?? '';
}

/** What each step of a flow waits for, in words, from its definition. */
export function waitTexts(
  steps: readonly { id: string; needs: readonly string[]; on_failure?: string }[],
): Map<string, string> {
  const texts = new Map<string, string>();
  const rescued = new Map<string, string[]>();
  for (const step of steps) {
    if (step.needs.length > 0) texts.set(step.id, `needs ${step.needs.join(', ')}`);
    if (step.on_failure)
      rescued.set(step.on_failure, [...(rescued.get(step.on_failure) ?? []), step.id]);
  }
  // An on_failure step has no needs of its own (check-flow.ts): it waits for a failure.
  for (const [id, triggers] of rescued) texts.set(id, `if ${triggers.join(' or ')} fails`);
  return texts;
}

function flowState(state: FlowUpdate['state'], paint: Paint): string {
  return state === 'succeeded'
    ? paint.ok(state)
    : state === 'running'
      ? paint.busy(state)
      : paint.bad(state);
}

/** A line cut to the terminal's width, counting only what shows (not colour codes). */
export function cut(line: string, width: number): string {
  if (width <= 0) return line;
  let shown = 0;
  let out = '';
  for (let i = 0; i < line.length;) {
    // eslint-disable-next-line no-control-regex
    const code = /^\x1b\[[0-9;?]*[A-Za-z]/.exec(line.slice(i));
    if (code) {
      out += code[0];
      i += code[0].length;
      continue;
    }
    if (shown >= width - 1) {
      out += '…';
      break;
    }
    const char = String.fromCodePoint(line.codePointAt(i)!);
    out += char;
    shown += 1;
    i += char.length;
  }
  return code0(out);
}

/** Whatever colour a cut left on, turned off. */
function code0(text: string): string {
  return text.includes('\x1b[') ? `${text}\x1b[0m` : text;
}

/** Piped: a line for a step's change of state, or undefined when nothing people see changed. */
export function changeLine(
  before: StepView | undefined,
  after: StepView,
  now: number,
): string | undefined {
  if (before && before.state === after.state && before.agent_id === after.agent_id)
    return undefined;
  const at = new Date(now).toISOString().slice(11, 23);
  const duration = stepDuration(after, now);
  const took = duration === undefined ? '' : ` in ${formatDuration(duration)}`;
  switch (after.state) {
    case 'running':
      return `${at}  ${after.id}  running on ${after.agent_id ?? '?'} (attempt ${after.attempt})`;
    case 'complete':
      return `${at}  ${after.id}  complete${took}`;
    case 'failed':
      return `${at}  ${after.id}  failed${took}`;
    case 'queued':
      return `${at}  ${after.id}  queued`;
    case 'skipped':
    case 'canceled':
      return `${at}  ${after.id}  ${after.state}`;
    case 'waiting':
      return undefined;
  }
}

/** The summary once a flow has ended: its steps as a table, the service it left up, what failed. */
export function summaryLines(detail: FlowDetail, paint: Paint): string[] {
  const took = detail.finished_at
    ? ` in ${formatDuration(Date.parse(detail.finished_at) - Date.parse(detail.created_at))}`
    : '';
  const lines = [
    `${paint.bold(visible(`flow ${detail.flow_id}`))} (${visible(detail.name)}) ${flowState(detail.state, paint)}${took}`,
    '',
  ];
  const rows = detail.steps.map((step) => [
    step.id,
    step.type,
    step.agent_role ?? step.roles.join('/'),
    step.agent_id ?? '-',
    step.state,
    step.duration_ms === null ? '-' : formatDuration(step.duration_ms),
  ]);
  lines.push(...table(['STEP', 'TYPE', 'ROLE', 'AGENT', 'STATE', 'TIME'], rows));
  const services = detail.steps.filter(
    (step) => step.state === 'complete' && step.outputs.url && step.outputs.service,
  );
  const service = services.at(-1);
  if (service) {
    const release = service.outputs.release ? `, release ${service.outputs.release}` : '';
    lines.push(
      '',
      // Outputs are what the step's commands wrote: shown, never acted on by the terminal.
      visible(
        `service   ${service.outputs.url}  (${service.outputs.service}${release}, started by ${service.id})`,
      ),
    );
  }
  for (const step of detail.steps.filter((s) => s.state === 'failed' || s.state === 'canceled')) {
    lines.push(
      '',
      paint.bad(visible(`step ${step.id} ${step.state}: ${step.note ?? 'no reason recorded'}`)),
    );
    if (step.output)
      lines.push(
        ...visible(step.output)
          .split('\n')
          .map((line) => `  ${line}`),
      );
  }
  const skipped = detail.steps.filter((step) => step.state === 'skipped');
  if (skipped.length > 0 && detail.state !== 'succeeded') {
    lines.push(
      '',
      ...skipped.map((step) => paint.dim(visible(`step ${step.id} skipped: ${step.note ?? ''}`))),
    );
  }
  return lines;
}

/** Aligned columns, as `docker ps` prints them. */
export function table(headers: string[], cells: string[][]): string[] {
  const rows = cells.map((row) => row.map((cell) => visible(cell)));
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  return [headers, ...rows].map((cells) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

export type { StepDetail };
