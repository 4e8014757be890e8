import { describe, expect, it } from 'vitest';
import { explainWait, type WaitFacts } from '../../src/cli/wait-reason.js';

const task = (extra: Partial<NonNullable<WaitFacts['task']>>): WaitFacts['task'] => ({
  task_id: 't1',
  state: 'queued',
  attempt: 0,
  failures: 0,
  agent_id: null,
  result: null,
  last_error: null,
  ...extra,
});
const agent = (role: string, state: string) => ({
  agent_id: `${role}-1`,
  role,
  state,
  running: [],
});
const facts = (extra: Partial<WaitFacts>): WaitFacts => ({
  taskId: 't1',
  roles: ['testing'],
  ...extra,
});

describe('explainWait', () => {
  it('names the needs a blocked task waits for, and which were never submitted', () => {
    expect(
      explainWait(
        facts({
          task: task({
            state: 'blocked',
            needs: [
              { task_id: 'build', state: 'complete' },
              { task_id: 'lint', state: 'assigned' },
              { task_id: 'docs', state: null },
            ],
          }),
        }),
      ),
    ).toBe(
      'blocked: it needs lint (assigned) and docs (not submitted yet); it becomes claimable when they complete',
    );
  });

  it('says the hub is silent, with what its retained status says', () => {
    expect(
      explainWait(
        facts({
          hubSilent: 'no hub answered',
          hubStatus: { state: 'offline', since: '2026-11-21T10:00:00Z', reason: 'stopped' },
        }),
      ),
    ).toBe(
      'waiting for the hub: it does not answer (its status says offline since 2026-11-21T10:00:00Z: stopped); the task waits in its session until a hub runs again (sheri up, or sheri hub)',
    );
  });

  it('tells apart no agent of the role, only busy ones, and idle ones', () => {
    const queued = task({});
    expect(
      explainWait(facts({ task: queued, agents: { agents: [agent('review', 'idle')] } })),
    ).toBe('queued: no agent of role testing is running — start one: sheri agent --role testing');
    expect(
      explainWait(facts({ task: queued, agents: { agents: [agent('testing', 'busy')] } })),
    ).toBe(
      'queued: the 1 agent of role testing is busy or stopping; it runs when one is free (sheri agents)',
    );
    expect(
      explainWait(facts({ task: queued, agents: { agents: [agent('testing', 'idle')] } })),
    ).toBe('queued; 1 idle agent of role testing should claim it soon (sheri agents)');
  });

  it('says a queued task waits for a retry after a failed attempt', () => {
    expect(
      explainWait(
        facts({
          roles: ['review', 'general'],
          task: task({ failures: 1, last_error: 'exited 1' }),
          agents: { agents: [] },
        }),
      ),
    ).toBe(
      'queued, to retry after 1 failed attempt (exited 1): no agent of role review or general is running — start one: sheri agent --role review',
    );
  });

  it('says when the hub has no record of the task', () => {
    expect(explainWait(facts({}))).toMatch(/^the hub has no record of t1 yet/);
  });
});
