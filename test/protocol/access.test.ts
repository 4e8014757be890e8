import { describe, expect, it } from 'vitest';
import {
  matchTopic,
  publishRefusal,
  redactForAnonymous,
  subscribeRefusal,
  type Identity,
} from '../../src/protocol/access.js';
import { TOPICS } from '../../src/protocol/topic-table.js';

const agent: Identity = { name: 'testing-1', kind: 'agent', role: 'testing' };
const operator: Identity = { name: 'operator', kind: 'operator' };
const hub: Identity = { name: 'hub', kind: 'hub' };
const observer: Identity = { name: 'screen', kind: 'observer' };
const as = (
  identity: Identity,
  role = identity.kind === 'agent' ? identity.role : identity.kind,
) => ({
  agentId: identity.name,
  role,
});

describe('who may publish what (PROTOCOL §15.3)', () => {
  it('finds each topic in the table with its parameters', () => {
    expect(matchTopic('tasks/assigned/testing-1')).toMatchObject({
      key: 'tasksAssigned',
      params: { agent: 'testing-1' },
    });
    expect(matchTopic('agents/x/status')?.key).toBe('agentStatus');
    expect(matchTopic('approvals/t.1.ab/decision')?.key).toBe('approvalDecision');
    // The origin's domain events have entries of their own (PROTOCOL §17.6); others are generic.
    expect(matchTopic('deployment/status')?.key).toBe('deploymentStatus');
    expect(matchTopic('code/review')?.key).toBe('domain');
    expect(matchTopic('tasks/unheard-of')).toBeUndefined();
    expect(matchTopic('tasks/assigned/+')).toBeUndefined();
  });

  it('refuses an agent a "domain event" under flows/, which the protocol owns', () => {
    for (const local of ['flows/update/x', 'flows/new/x', 'flows/forged']) {
      expect(matchTopic(local), local).toBeUndefined();
      expect(publishRefusal(agent, local, as(agent)), local).toMatch(/not a topic/);
    }
  });

  it('lets only the hub grant, dead-letter and say its status', () => {
    for (const local of ['tasks/assigned/testing-1', 'tasks/dead', 'hub/status']) {
      expect(publishRefusal(hub, local, as(hub))).toBeUndefined();
      expect(publishRefusal(agent, local, as(agent))).toMatch(/may not publish/);
      expect(publishRefusal(operator, local, as(operator))).toMatch(/may not publish/);
    }
  });

  it('lets only operators answer approvals and ask the hub', () => {
    for (const local of ['approvals/answer', 'hub/query']) {
      expect(publishRefusal(operator, local, as(operator))).toBeUndefined();
      expect(publishRefusal(agent, local, as(agent))).toMatch(/only operator may/);
    }
  });

  it('refuses an envelope that names another sender than the one who sends it', () => {
    expect(
      publishRefusal(agent, 'tasks/complete', { agentId: 'testing-2', role: 'testing' }),
    ).toMatch(/envelope agent_id "testing-2" is not the sender/);
  });

  it('refuses an agent that claims a role its credential does not give it', () => {
    expect(
      publishRefusal(agent, 'agents/register', { agentId: 'testing-1', role: 'deployment' }),
    ).toMatch(/envelope role "deployment" is not the sender's: .* must write "testing"/);
  });

  it('lets an agent write its own presence only, and clear it (its Will)', () => {
    expect(publishRefusal(agent, 'agents/testing-1/status', as(agent))).toBeUndefined();
    expect(publishRefusal(agent, 'agents/testing-1/status', 'empty')).toBeUndefined();
    expect(publishRefusal(agent, 'agents/victim/status', 'empty')).toMatch(/only, not/);
    expect(publishRefusal(agent, 'tasks/claim', 'empty')).toMatch(/empty message/);
  });

  it('lets observers publish nothing', () => {
    for (const local of Object.values(TOPICS).map((spec) =>
      spec.pattern.replace(/\{\w+\}/g, 'x'),
    )) {
      expect(publishRefusal(observer, local, as(observer))).toBeDefined();
    }
  });

  it("keeps an agent's subscriptions to its own topics", () => {
    expect(subscribeRefusal(agent, 'tasks/assigned/testing-1', 'testing-1')).toBeUndefined();
    expect(subscribeRefusal(agent, 'approvals/+/decision', 'testing-1')).toBeUndefined();
    expect(subscribeRefusal(agent, 'hub/status', 'testing-1')).toBeUndefined();
    expect(subscribeRefusal(agent, 'tasks/assigned/deployment-1', 'testing-1')).toMatch(
      /may not subscribe/,
    );
    expect(subscribeRefusal(agent, 'tasks/assigned/+', 'testing-1')).toMatch(/may not subscribe/);
    expect(subscribeRefusal(agent, 'tasks/complete', 'testing-1')).toMatch(/may not subscribe/);
    expect(subscribeRefusal(agent, '#', 'testing-1')).toMatch(/"#"/);
    expect(subscribeRefusal(operator, '#', 'sheri-cli-1')).toBeUndefined();
  });

  it("shows anonymous readers a task's life without its commands, inputs or result", () => {
    const grant = {
      id: 'g1',
      timestamp: 'now',
      agent_id: 'hub',
      role: 'hub',
      payload: {
        task_id: 't1',
        agent_id: 'testing-1',
        attempt: 1,
        lease_ms: 1,
        lease_expires_at: 'soon',
        task: { commands: ['curl -H "Authorization: Bearer s3cret" x'] },
        inputs: { dep: 'secret result' },
      },
      sig: { mac: 'x' },
    };
    const copy = redactForAnonymous(TOPICS.tasksAssigned, grant);
    expect(copy).toEqual({
      id: 'g1',
      timestamp: 'now',
      agent_id: 'hub',
      role: 'hub',
      payload: {
        task_id: 't1',
        agent_id: 'testing-1',
        attempt: 1,
        lease_ms: 1,
        lease_expires_at: 'soon',
      },
      redacted: ['task', 'inputs'],
    });
    expect(
      JSON.stringify(
        redactForAnonymous(TOPICS.tasksComplete, {
          payload: { task_id: 't1', attempt: 1, duration_ms: 3, result: { stdout: 'secret' } },
        }),
      ),
    ).not.toContain('secret');
    expect(redactForAnonymous(TOPICS.hubReply, { payload: {} })).toBeUndefined();
  });
});
