import { describe, expect, it } from 'vitest';
import { layoutFor } from '../../src/dashboard/layout.js';
import { renderPanes, type PaneView } from '../../src/dashboard/panes.js';
import { reduce } from '../../src/dashboard/reduce.js';
import { createState } from '../../src/dashboard/view-model.js';
import type { FlowUpdate } from '../../src/protocol/flow-messages.js';
import { message } from '../helpers/dashboard-events.js';

const T0 = Date.parse('2026-12-01T11:00:00Z');
const WHERE = { swarm: 'demo', broker: 'mqtt://127.0.0.1:1883' };
const VIEW: PaneView = {
  pane: 'tasks',
  selected: { tasks: 0, agents: 0, approvals: 0 },
  offset: { tasks: 0, agents: 0 },
  filter: '',
};
const plain = (text: string): string => text.replace(/\{\/?[a-z-]+\}/g, '');

function flow(
  id: string,
  state: FlowUpdate['state'],
  steps: [string, FlowUpdate['steps'][number]['state']][],
): FlowUpdate {
  return {
    flow_id: id,
    name: 'deploy',
    state,
    created_at: new Date(T0).toISOString(),
    finished_at: null,
    error: null,
    steps: steps.map(([stepId, stepState]) => ({
      id: stepId,
      type: 'testing.run',
      state: stepState,
      task_id: `${id}.${stepId}`,
      agent_id: null,
      attempt: 0,
      started_at: null,
      finished_at: null,
    })),
  };
}

describe("the dashboard's flows (PROTOCOL §17)", () => {
  it('has no flows pane until a flow is heard of', () => {
    const state = createState({}, T0);
    expect(layoutFor(200, 50, state).flows.height).toBe(0);
  });

  it("shows each flow's state and every step's mark, running flows first, from the hub's flows/update", () => {
    let state = createState({}, T0);
    state = reduce(
      state,
      message(
        'flows/update',
        flow('old-1', 'succeeded', [
          ['build', 'complete'],
          ['test', 'complete'],
        ]),
        T0,
      ),
    );
    state = reduce(
      state,
      message(
        'flows/update',
        flow('now-2', 'running', [
          ['build', 'complete'],
          ['test', 'running'],
          ['deploy', 'waiting'],
        ]),
        T0 + 10,
      ),
    );
    state = reduce(
      state,
      message(
        'flows/update',
        flow('now-2', 'running', [
          ['build', 'complete'],
          ['test', 'failed'],
          ['deploy', 'skipped'],
        ]),
        T0 + 20,
      ),
    );
    const layout = layoutFor(200, 50, state);
    expect(layout.flows.height).toBe(4);
    const drawn = renderPanes(state, { ...VIEW, selected: { ...VIEW.selected } }, layout, WHERE);
    expect(plain(drawn.content.flows).split('\n')).toEqual([
      'now-2  running    ✓build ✗test -deploy',
      'old-1  succeeded  ✓build ✓test',
    ]);
    expect(drawn.labels.flows).toBe(' flows 1 running of 2 (sheri flow show ID) ');
    // And the feed says what changed.
    expect(state.feed.newestFirst().next().value?.text).toBe(
      'flow now-2 running: build complete, test failed, deploy skipped',
    );
  });
});
