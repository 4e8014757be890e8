import type { DashboardState } from './view-model.js';

export interface Position {
  top: number;
  left: number;
  width: number;
  height: number;
}

export type Layout = Record<
  'header' | 'agents' | 'tasks' | 'flows' | 'approvals' | 'feed' | 'footer' | 'detail',
  Position
>;

/** Flows shown at once (PROTOCOL §17), running ones first; none: no pane. */
export const FLOW_ROWS = 3;

/** Wide enough for the agents and tasks tables side by side (about 95 columns each). */
const SIDE_BY_SIDE_COLUMNS = 150;

/**
 * Where each pane goes on a `width` × `height` terminal: a header line, the agents and tasks
 * tables, the flows (once there are any, up to 3), the approvals waiting (as tall as they need,
 * up to 4), the event feed, a line of keys.
 */
export function layoutFor(width: number, height: number, state: DashboardState): Layout {
  const body = Math.max(8, height - 2);
  // Borders, the column header, a row per approval (up to 4); one line saying none when none.
  const approvals = state.approvals.size === 0 ? 3 : 3 + Math.min(4, state.approvals.size);
  const flows = state.flows.size === 0 ? 0 : 2 + Math.min(FLOW_ROWS, state.flows.size);
  const feed = Math.max(4, Math.floor((body - approvals - flows) * 0.3));
  const tables = Math.max(4, body - approvals - flows - feed);
  const top = 1;
  const header = { top: 0, left: 0, width, height: 1 };
  const footer = { top: height - 1, left: 0, width, height: 1 };
  let agents: Position;
  let tasks: Position;
  if (width >= SIDE_BY_SIDE_COLUMNS) {
    const half = Math.floor(width / 2);
    agents = { top, left: 0, width: half, height: tables };
    tasks = { top, left: half, width: width - half, height: tables };
  } else {
    const upper = Math.max(4, Math.floor(tables * 0.4));
    agents = { top, left: 0, width, height: upper };
    tasks = { top: top + upper, left: 0, width, height: tables - upper };
  }
  return {
    header,
    agents,
    tasks,
    flows: { top: top + tables, left: 0, width, height: flows },
    approvals: { top: top + tables + flows, left: 0, width, height: approvals },
    feed: { top: top + tables + flows + approvals, left: 0, width, height: feed },
    footer,
    detail: {
      top: 2,
      left: Math.floor(width * 0.05),
      width: Math.max(20, Math.floor(width * 0.9)),
      height: Math.max(6, height - 4),
    },
  };
}
