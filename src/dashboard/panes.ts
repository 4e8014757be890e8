import { formatColumns } from './columns.js';
import { budgetCell, clock } from './format.js';
import type { BudgetStatus } from '../tasks/budget.js';
import { visible } from '../util/text.js';
import type { Layout } from './layout.js';
import {
  AGENT_COLUMNS,
  agentCells,
  approvalCells,
  feedText,
  selectAgents,
  selectApprovals,
  selectCounters,
  selectFeed,
  selectTasks,
  TASK_COLUMNS,
  taskCells,
  type Rows,
} from './select.js';
import type { DashboardState } from './view-model.js';

/** What the screen holds besides the state: focus, selections, scroll, filter. */
export interface PaneView {
  pane: 'tasks' | 'agents' | 'approvals';
  selected: { tasks: number; agents: number; approvals: number };
  offset: { tasks: number; agents: number };
  filter: string;
}

export interface DrawnPanes {
  /** blessed-tagged text of each pane. */
  content: Record<
    'header' | 'agents' | 'tasks' | 'flows' | 'approvals' | 'feed' | 'footer',
    string
  >;
  labels: Partial<Record<'agents' | 'tasks' | 'flows' | 'approvals' | 'feed', string>>;
  /** Ids of the task rows shown, top to bottom, and each shown agent's current task. */
  taskIds: string[];
  agentTaskIds: (string | undefined)[];
}

const STATE_COLOUR: Record<string, string> = {
  running: 'cyan',
  assigned: 'cyan',
  blocked: 'grey',
  complete: 'green',
  dead: 'red',
  gone: 'grey',
  busy: 'cyan',
  draining: 'yellow',
};

const LEVEL_COLOUR: Record<string, string | undefined> = { error: 'red', warn: 'yellow' };

export const KEYS_HELP =
  'q quit  tab pane  up/down select  enter task detail  a approve  d deny  / filter  esc clear';

/**
 * Text for a blessed box with tags on: its braces shown as braces, not read as tags, and what a
 * terminal would act on shown as text (visible) — the text is the swarm's: tasks, models, clients.
 */
export function escapeTags(text: string): string {
  return visible(text).replace(/[{}]/g, (brace) => (brace === '{' ? '{open}' : '{close}'));
}

function paint(line: string, colour: string | undefined, selected: boolean): string {
  let out = escapeTags(line);
  if (colour) out = `{${colour}-fg}${out}{/${colour}-fg}`;
  return selected ? `{inverse}${out}{/inverse}` : out;
}

/** Keep the selection inside the rows and the window around the selection. */
function scroll(view: PaneView, pane: 'tasks' | 'agents', matched: number, rows: number): void {
  view.selected[pane] = Math.max(0, Math.min(view.selected[pane], matched - 1));
  if (view.selected[pane] < view.offset[pane]) view.offset[pane] = view.selected[pane];
  if (view.selected[pane] >= view.offset[pane] + rows)
    view.offset[pane] = view.selected[pane] - rows + 1;
  view.offset[pane] = Math.max(0, Math.min(view.offset[pane], Math.max(0, matched - rows)));
}

/**
 * The rows of a pane's window around its selection. Without a filter the count is known and only
 * the window is read; with one, a single pass finds every match, and the window is cut from it.
 */
function windowed<T>(
  view: PaneView,
  pane: 'tasks' | 'agents',
  rows: number,
  select: (window: { offset?: number; limit: number }) => Rows<T>,
): Rows<T> {
  if (view.filter) {
    const all = select({ limit: Infinity });
    scroll(view, pane, all.matched, rows);
    return {
      rows: all.rows.slice(view.offset[pane], view.offset[pane] + rows),
      matched: all.matched,
    };
  }
  scroll(view, pane, select({ limit: 0 }).matched, rows);
  return select({ offset: view.offset[pane], limit: rows });
}

/**
 * Draw every pane as text for blessed: pure apart from clamping `view`'s selection and scroll,
 * so the dashboard's look is testable without a terminal. Costs O(rows shown) without a filter.
 */
export function renderPanes(
  state: DashboardState,
  view: PaneView,
  layout: Layout,
  where: Where,
): DrawnPanes {
  const agents = drawAgents(state, view, areaOf(layout.agents));
  const tasks = drawTasks(state, view, areaOf(layout.tasks));
  const approvals = drawApprovals(state, view, areaOf(layout.approvals));
  const flows = drawFlows(state, {
    width: Math.max(0, layout.flows.width - 3),
    rows: Math.max(0, layout.flows.height - 2),
  });
  const feedArea = areaOf(layout.feed);
  const feed = selectFeed(state, { filter: view.filter, limit: feedArea.rows + 1 })
    .map((line) => paint(feedText(line).slice(0, feedArea.width), LEVEL_COLOUR[line.level], false))
    .join('\n');
  const focus = (pane: PaneView['pane'], text: string): string =>
    view.pane === pane ? `[ ${text} ]` : ` ${text} `;
  const matching = view.filter ? ` matching "${view.filter}"` : '';
  return {
    content: {
      header: headerLine(state, where, view.filter),
      agents: agents.text,
      tasks: tasks.text,
      flows: flows.text,
      approvals: approvals.text,
      feed,
      footer: `{grey-fg}${KEYS_HELP}{/grey-fg}`,
    },
    labels: {
      agents: focus('agents', `agents ${agents.matched}${matching}`),
      tasks: focus('tasks', `tasks ${tasks.matched}${matching}`),
      flows: ` flows ${flows.running} running of ${state.flows.size} (sheri flow show ID) `,
      approvals: focus('approvals', `approvals waiting ${approvals.matched}: a approve, d deny`),
      feed: ` events, newest last (${clock(state.now)}) `,
    },
    taskIds: tasks.ids,
    agentTaskIds: agents.ids,
  };
}

interface Area {
  width: number;
  /** Rows below the column header. */
  rows: number;
}

function areaOf(position: Layout[keyof Layout]): Area {
  return {
    // Borders, and one column more: blessed wraps a tagged line that fills the whole width.
    width: Math.max(0, position.width - 3),
    rows: Math.max(0, position.height - 3), // borders and the column header
  };
}

function bold(text: string): string {
  return `{bold}${escapeTags(text)}{/bold}`;
}

function drawAgents(state: DashboardState, view: PaneView, area: Area) {
  const filter = view.filter;
  const { matched, rows } = windowed(view, 'agents', area.rows, (window) =>
    selectAgents(state, { filter, ...window }),
  );
  const table = formatColumns(
    AGENT_COLUMNS,
    rows.map((agent) => agentCells(agent, state.now)),
    area.width,
    [22, 14, 8, 30, 9, 8, 7, 8],
  );
  const lines = table.lines.map((line, i) => {
    const selected = view.pane === 'agents' && view.offset.agents + i === view.selected.agents;
    return paint(line, STATE_COLOUR[rows[i]!.state], selected);
  });
  return {
    text: [bold(table.header), ...lines].join('\n'),
    matched,
    ids: rows.map((agent) => agent.running[0]),
  };
}

function drawTasks(state: DashboardState, view: PaneView, area: Area) {
  const filter = view.filter;
  const { matched, rows } = windowed(view, 'tasks', area.rows, (window) =>
    selectTasks(state, { filter, ...window }),
  );
  const table = formatColumns(
    TASK_COLUMNS,
    rows.map((task) => taskCells(task, state.now)),
    area.width,
    [32, 20, 8, 22, 3, 7],
  );
  const lines = table.lines.map((line, i) => {
    const selected = view.pane === 'tasks' && view.offset.tasks + i === view.selected.tasks;
    return paint(line, STATE_COLOUR[rows[i]!.state], selected);
  });
  return {
    text: [bold(table.header), ...lines].join('\n'),
    matched,
    ids: rows.map((task) => task.taskId),
  };
}

const STEP_MARK: Record<string, string> = {
  complete: '{green-fg}✓{/green-fg}',
  failed: '{red-fg}✗{/red-fg}',
  running: '{cyan-fg}▶{/cyan-fg}',
  queued: '{cyan-fg}…{/cyan-fg}',
  waiting: '{grey-fg}·{/grey-fg}',
  skipped: '{grey-fg}-{/grey-fg}',
  canceled: '{red-fg}⊘{/red-fg}',
};

/** One line per flow, running ones first then the newest: its state and each step's mark. */
function drawFlows(state: DashboardState, area: Area): { text: string; running: number } {
  const all = [...state.flows.values()].reverse();
  const running = all.filter((flow) => flow.state === 'running');
  const shown = [...running, ...all.filter((flow) => flow.state !== 'running')].slice(0, area.rows);
  const idWidth = Math.max(4, ...shown.map((flow) => flow.flow_id.length));
  const lines = shown.map((flow) => {
    const colour = flow.state === 'succeeded' ? 'green' : flow.state === 'running' ? 'cyan' : 'red';
    const head = `${escapeTags(flow.flow_id.padEnd(idWidth))}  {${colour}-fg}${flow.state.padEnd(9)}{/${colour}-fg}`;
    // The marks are one column each; names are cut before they would wrap the line.
    let room = Math.max(0, area.width - idWidth - 13);
    const steps: string[] = [];
    for (const step of flow.steps) {
      const cell = `${STEP_MARK[step.state] ?? '?'}${escapeTags(step.id)}`;
      const width = step.id.length + 2;
      if (width > room) break;
      room -= width;
      steps.push(cell);
    }
    return `${head}  ${steps.join(' ')}`;
  });
  return { text: lines.join('\n'), running: running.length };
}

/** The selected approval is always marked: `a` and `d` act on it from any pane. */
function drawApprovals(state: DashboardState, view: PaneView, area: Area) {
  const approvals = selectApprovals(state);
  view.selected.approvals = Math.max(0, Math.min(view.selected.approvals, approvals.length - 1));
  if (approvals.length === 0) {
    return { text: '{grey-fg}no command is waiting for approval{/grey-fg}', matched: 0 };
  }
  const table = formatColumns(
    ['APPROVAL', 'AGENT', 'COMMAND', 'RULE', 'DEADLINE'],
    approvals.map((approval) => approvalCells(approval, state.now)),
    area.width,
    [48, 22, 60, 30],
  );
  const lines = table.lines
    .slice(0, area.rows)
    .map((line, i) => paint(line, 'yellow', i === view.selected.approvals));
  return { text: [bold(table.header), ...lines].join('\n'), matched: approvals.length };
}

/** The swarm and the broker it is on. */
export interface Where {
  swarm: string;
  broker: string;
}

/** The budget, red once nothing is left for new prompt tasks. */
function budgetHeader(budget: BudgetStatus): string {
  const spent = budget.daily_usd !== null && budget.spent_today_usd >= budget.daily_usd;
  return spent ? `{red-fg}${budgetCell(budget)} spent{/red-fg}` : budgetCell(budget);
}

/** Counters first: on a narrow terminal the line is cut at the right, where the broker is. */
function headerLine(state: DashboardState, where: Where, filter: string): string {
  const c = selectCounters(state);
  const hub =
    state.hub.snapshot === 'unavailable'
      ? `{red-fg}no hub answered: following the bus only{/red-fg}`
      : state.hub.snapshot === 'loading'
        ? 'hub: asking...'
        : `hub ${state.hub.status === 'unknown' ? 'answered' : state.hub.status}`;
  const parts = [
    `{bold}sheri monitor ${escapeTags(where.swarm)}{/bold}`,
    `agents ${c.agents} (${c.busy} busy)`,
    `queued ${c.queued}${c.blocked ? ` +${c.blocked} blocked` : ''}`,
    `running ${c.running}`,
    `{green-fg}done ${c.done}{/green-fg}`,
    `{red-fg}dead ${c.dead}{/red-fg}`,
    // Done and dead start from the hub's totals; failed attempts only from what this monitor saw
    // (a task dead at once, a denied approval, fails no attempt that counts against a retry).
    `failed attempts ${c.failed} since start`,
    `${c.perMinute}/min`,
    ...(c.approvals ? [`{yellow-fg}approvals ${c.approvals}{/yellow-fg}`] : []),
    ...(state.budget ? [budgetHeader(state.budget)] : []),
    ...(filter ? [`filter "${escapeTags(filter)}"`] : []),
    hub,
    state.broker === 'connected'
      ? escapeTags(where.broker)
      : `{red-fg}${escapeTags(where.broker)} disconnected, retrying{/red-fg}`,
  ];
  return parts.join('  ');
}
