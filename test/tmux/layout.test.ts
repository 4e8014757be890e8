import { describe, expect, it } from 'vitest';
import {
  ORIGIN_ROLES,
  assignRoles,
  defaultSessionName,
  parseRoleList,
  planAgentWindows,
  splitIntoWindows,
  tiledGrid,
} from '../../src/tmux/layout.js';

describe('tmux swarm layout', () => {
  it('tiles 9, 16 and 25 panes as square grids, as select-layout tiled does', () => {
    expect(tiledGrid(9)).toEqual({ columns: 3, rows: 3 });
    expect(tiledGrid(16)).toEqual({ columns: 4, rows: 4 });
    expect(tiledGrid(25)).toEqual({ columns: 5, rows: 5 });
  });

  it('grows rows before columns for counts between squares, like tmux', () => {
    expect(tiledGrid(1)).toEqual({ columns: 1, rows: 1 });
    expect(tiledGrid(2)).toEqual({ columns: 1, rows: 2 });
    expect(tiledGrid(3)).toEqual({ columns: 2, rows: 2 });
    expect(tiledGrid(5)).toEqual({ columns: 2, rows: 3 });
    expect(tiledGrid(7)).toEqual({ columns: 3, rows: 3 });
    expect(tiledGrid(10)).toEqual({ columns: 3, rows: 4 });
  });

  it('keeps up to 25 agents in one window and spreads more evenly over more windows', () => {
    expect(splitIntoWindows(9)).toEqual([9]);
    expect(splitIntoWindows(25)).toEqual([25]);
    expect(splitIntoWindows(26)).toEqual([13, 13]);
    expect(splitIntoWindows(30)).toEqual([15, 15]);
    expect(splitIntoWindows(51)).toEqual([17, 17, 17]);
    expect(splitIntoWindows(7, 3)).toEqual([3, 2, 2]);
  });

  it('never puts more panes in a window than allowed, and places every agent', () => {
    for (let agents = 1; agents <= 120; agents++) {
      for (const perWindow of [1, 4, 9, 25]) {
        const windows = splitIntoWindows(agents, perWindow);
        expect(windows.reduce((sum, count) => sum + count, 0)).toBe(agents);
        expect(Math.max(...windows)).toBeLessThanOrEqual(perWindow);
        expect(windows.length).toBe(Math.ceil(agents / perWindow));
      }
    }
  });

  it('rejects a swarm of no agents', () => {
    expect(() => splitIntoWindows(0)).toThrow(/panes must be ≥ 1/);
    expect(() => assignRoles(3, [])).toThrow(/at least one role/);
  });

  it("gives nine agents the origin's roles, in the origin's order", () => {
    expect(assignRoles(9, ORIGIN_ROLES)).toEqual([
      'general',
      'review',
      'deployment',
      'testing',
      'security',
      'documentation',
      'monitoring',
      'database',
      'general',
    ]);
  });

  it('cycles the roles over the panes', () => {
    expect(assignRoles(5, ['testing', 'review'])).toEqual([
      'testing',
      'review',
      'testing',
      'review',
      'testing',
    ]);
    expect(assignRoles(2, ['a', 'b', 'c'])).toEqual(['a', 'b']);
  });

  it('continues the role cycle from one window into the next', () => {
    const plan = planAgentWindows(5, ['testing', 'review'], 3);
    expect(plan.map((window) => window.name)).toEqual(['agents-1', 'agents-2']);
    expect(plan.map((window) => window.roles)).toEqual([
      ['testing', 'review', 'testing'],
      ['review', 'testing'],
    ]);
    expect(plan[0]!.grid).toEqual({ columns: 2, rows: 2 });
    expect(planAgentWindows(9, ORIGIN_ROLES).map((window) => window.name)).toEqual(['agents']);
  });

  it('reads a role list with spaces and empty items', () => {
    expect(parseRoleList(' testing, review,,deployment ')).toEqual([
      'testing',
      'review',
      'deployment',
    ]);
  });

  it('names the session after the swarm, without the characters tmux reserves', () => {
    expect(defaultSessionName('opencto-dev')).toBe('sheri-opencto-dev');
    expect(defaultSessionName('team.prod')).toBe('sheri-team_prod');
  });
});
