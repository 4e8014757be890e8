import { describe, expect, it } from 'vitest';
import { layoutFor } from '../../src/dashboard/layout.js';
import { escapeTags, renderPanes, type PaneView } from '../../src/dashboard/panes.js';
import { reduce } from '../../src/dashboard/reduce.js';
import { createState } from '../../src/dashboard/view-model.js';
import { heartbeat, message, taskLife } from '../helpers/dashboard-events.js';

const T0 = Date.parse('2026-11-21T15:00:00Z');
const WHERE = { swarm: 'demo', broker: 'mqtt://127.0.0.1:1883' };

function view(): PaneView {
  return {
    pane: 'tasks',
    selected: { tasks: 0, agents: 0, approvals: 0 },
    offset: { tasks: 0, agents: 0 },
    filter: '',
  };
}

/** What the terminal would show, without blessed's tags. */
function plain(text: string): string {
  return text
    .replace(/\{\/?[a-z-]+\}/g, '')
    .replace(/\{open\}/g, '{')
    .replace(/\{close\}/g, '}');
}

describe('the dashboard panes', () => {
  it('shows the swarm budget in the header from the hub’s retained hub/budget, red once spent', () => {
    const state = createState({}, T0);
    const budget = (spent: number, refused: number) =>
      message(
        'hub/budget',
        {
          day: '2026-11-21',
          daily_usd: 5,
          spent_today_usd: spent,
          running_usd: 0,
          flow_usd: null,
          refused,
        },
        T0,
      );
    reduce(state, budget(1.25, 0));
    let header = renderPanes(state, view(), layoutFor(200, 50, state), WHERE).content.header;
    expect(plain(header)).toContain('  budget $1.250/$5  ');
    reduce(state, budget(5, 1));
    header = renderPanes(state, view(), layoutFor(200, 50, state), WHERE).content.header;
    expect(header).toContain('{red-fg}budget $5.000/$5 spent{/red-fg}');
  });

  it('keeps the AGE column of the tasks pane in view at 200 columns, with long task and agent ids', () => {
    const state = createState({}, T0);
    const taskId = 'integration-suite-of-the-payments-service';
    const agent = 'testing-runner-on-the-second-build-box';
    const life = taskLife(taskId, agent, T0);
    for (const event of [heartbeat(agent, T0), life.submitted, life.assigned, life.progress]) {
      reduce(state, event);
    }
    const drawn = renderPanes(state, view(), layoutFor(200, 50, state), WHERE);
    const [header, row] = plain(drawn.content.tasks).split('\n');
    expect(header).toMatch(/ TRY {2}AGE {2}PROGRESS$/);
    // The age sits under its header, whole: the widest columns gave way, not the last ones.
    const age = header!.indexOf(' AGE ') + 1;
    expect(row!.slice(age)).toMatch(/^\d+s +\S/);
  });

  it('draws the counters, an agent, a task and an approval as text', () => {
    const state = createState({}, T0);
    const life = taskLife('t1', 'tester', T0);
    for (const event of [heartbeat('tester', T0), life.submitted, life.assigned, life.progress]) {
      reduce(state, event);
    }
    reduce(
      state,
      message(
        'approvals/request',
        {
          approval_id: 't1.1.abcd',
          task_id: 't1',
          attempt: 1,
          command: 'touch ok.txt',
          rule: 'touch *',
          reason: 'asks',
          deadline: new Date(T0 + 300_000).toISOString(),
        },
        T0 + 3,
        'tester',
      ),
    );
    const drawn = renderPanes(state, view(), layoutFor(200, 50, state), WHERE);
    expect(plain(drawn.content.header)).toMatch(
      /^sheri monitor demo {2}agents 1 \(1 busy\) {2}queued 0 {2}running 1 {2}done 0 {2}dead 0 {2}failed attempts 0 since start {2}0\/min {2}approvals 1 {2}hub: asking\.\.\. {2}mqtt:\/\/127\.0\.0\.1:1883$/,
    );
    expect(plain(drawn.content.agents).split('\n')[1]).toMatch(
      /^tester +testing +busy +t1 +0s ago +94 MiB +- +- +-$/,
    );
    expect(plain(drawn.content.tasks).split('\n')[1]).toMatch(
      /^t1 +testing\.run +running +tester +1 +0s +0% running 1\/1: echo hi$/,
    );
    expect(plain(drawn.content.approvals).split('\n')[1]).toMatch(
      /^t1\.1\.abcd +tester +touch ok\.txt +rule "touch \*" +4m59s left$/,
    );
    expect(drawn.taskIds).toEqual(['t1']);
  });

  it('escapes braces from the bus so blessed does not read them as tags', () => {
    const state = createState({}, T0);
    reduce(
      state,
      message(
        'tasks/new',
        { task_id: 't1', type: 'testing.run', payload: {}, commands: ['echo {bold}x'] },
        T0,
        'cli',
        'cli',
      ),
    );
    const drawn = renderPanes(state, view(), layoutFor(200, 50, state), WHERE);
    expect(drawn.content.feed).toContain('echo {open}bold{close}x');
  });

  it('keeps the selection on the rows there are, scrolling the window to it', () => {
    const state = createState({}, T0);
    for (let i = 0; i < 100; i++) reduce(state, taskLife(`t${i}`, 'tester', T0 + i).submitted);
    const v = view();
    v.selected.tasks = 500;
    const layout = layoutFor(200, 50, state);
    const drawn = renderPanes(state, v, layout, WHERE);
    expect(v.selected.tasks).toBe(99);
    expect(drawn.taskIds.at(-1)).toBe('t99');
    expect(drawn.taskIds).toHaveLength(layout.tasks.height - 3);
  });

  it('windows the rows that match a filter, and counts them in the label', () => {
    const state = createState({}, T0);
    for (let i = 0; i < 100; i++) reduce(state, taskLife(`t${i}`, 'tester', T0 + i).submitted);
    const v = { ...view(), filter: 't9' }; // t9, t90 … t99
    v.selected.tasks = 10;
    const drawn = renderPanes(state, v, layoutFor(200, 30, state), WHERE);
    expect(v.selected.tasks).toBe(10);
    expect(drawn.taskIds.at(-1)).toBe('t99');
    expect(drawn.taskIds).toContain('t9');
    expect(drawn.labels.tasks).toBe('[ tasks 11 matching "t9" ]');
  });
});

describe('text from the bus in the dashboard (escapeTags)', () => {
  it('shows braces and what a terminal would act on as text, never as tags or escape sequences', () => {
    const shown = escapeTags('{red-fg}ok{/red-fg}\x1b]52;c;ZXZpbA==\x07\x1b[2J\u009b1m\u202e');
    expect(shown).toBe(
      '{open}red-fg{close}ok{open}/red-fg{close}\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\\x9b1m\\u202e',
    );
  });
});
