/**
 * Where the agents of `sheri swarm tmux` go: pure arithmetic, no tmux. tmux itself draws the grid
 * (`select-layout tiled`); this module decides how many panes share a window and which role each
 * pane runs.
 */

/** The origin's nine-pane swarm (reference tmux layout), as roles sheri knows. */
export const ORIGIN_ROLES: readonly string[] = [
  'general',
  'review',
  'deployment',
  'testing',
  'security',
  'documentation',
  'monitoring',
  'database',
  'general',
];

export const DEFAULT_AGENTS = 9;
/**
 * At most 5×5 panes in one window: on a 200×50 terminal a pane of a 6×6 grid is 32×7 cells, too
 * small to follow an agent's lines. More agents get more windows (`agents-2`, …).
 */
export const MAX_PANES_PER_WINDOW = 25;

export interface Grid {
  columns: number;
  rows: number;
}

/**
 * The grid `select-layout tiled` makes of n panes (tmux layout-set.c): rows grow first, so
 * 2 panes stack, 9 are 3×3, 10 are 3 columns × 4 rows. The last row may be short.
 */
export function tiledGrid(panes: number): Grid {
  let rows = 1;
  let columns = 1;
  while (rows * columns < panes) {
    rows++;
    if (rows * columns < panes) columns++;
  }
  return { columns, rows };
}

/** Pane counts per window: as few windows as the cap allows, filled evenly (30 → 15 + 15). */
export function splitIntoWindows(panes: number, perWindow = MAX_PANES_PER_WINDOW): number[] {
  if (!Number.isInteger(panes) || panes < 1)
    throw new RangeError(`panes must be ≥ 1, got ${panes}`);
  if (!Number.isInteger(perWindow) || perWindow < 1)
    throw new RangeError(`perWindow must be ≥ 1, got ${perWindow}`);
  const windows = Math.ceil(panes / perWindow);
  const base = Math.floor(panes / windows);
  const larger = panes % windows; // the first windows take one more
  return Array.from({ length: windows }, (_, i) => base + (i < larger ? 1 : 0));
}

/** Roles for n panes, cycling through the list: (4, [a, b]) → [a, b, a, b]. */
export function assignRoles(panes: number, roles: readonly string[]): string[] {
  if (roles.length === 0) throw new RangeError('at least one role is needed');
  return Array.from({ length: panes }, (_, i) => roles[i % roles.length]!);
}

/** "testing, review,,deployment" → ["testing", "review", "deployment"]. */
export function parseRoleList(spec: string): string[] {
  return spec
    .split(',')
    .map((role) => role.trim())
    .filter(Boolean);
}

/** Window names: one window is `agents`; several are `agents-1`, `agents-2`, … */
export function agentWindowName(index: number, windows: number): string {
  return windows === 1 ? 'agents' : `agents-${index + 1}`;
}

export interface WindowPlan {
  name: string;
  roles: string[];
  grid: Grid;
}

/** The whole plan: which window each agent goes to, with the role it runs. */
export function planAgentWindows(
  agents: number,
  roles: readonly string[],
  perWindow = MAX_PANES_PER_WINDOW,
): WindowPlan[] {
  const all = assignRoles(agents, roles);
  const counts = splitIntoWindows(agents, perWindow);
  let next = 0;
  return counts.map((count, index) => {
    const windowRoles = all.slice(next, next + count);
    next += count;
    return {
      name: agentWindowName(index, counts.length),
      roles: windowRoles,
      grid: tiledGrid(count),
    };
  });
}

/** tmux turns "." and ":" in a session name into "_" (they separate window and pane). */
export function defaultSessionName(swarm: string): string {
  return `sheri-${swarm.replace(/[.:]/g, '_')}`;
}
