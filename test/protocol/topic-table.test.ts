import { describe, expect, it } from 'vitest';
import { matchTopic } from '../../src/protocol/access.js';
import {
  filterFor,
  messageKindOf,
  subscriptionsFor,
  topicFor,
  TOPICS,
  type TopicKey,
} from '../../src/protocol/topic-table.js';
import { TOPIC } from '../../src/protocol/topics.js';
import { hubSubscriptions } from '../../src/tasks/hub-handlers.js';

describe('the topic table', () => {
  it('fills an addressed topic with its agent, and refuses a level that would widen it', () => {
    expect(topicFor('tasksAssigned', { agent: 'testing-1' })).toBe('tasks/assigned/testing-1');
    expect(topicFor('hubReply', { client: 'sheri-cli-ab12cd' })).toBe(
      'hub/replies/sheri-cli-ab12cd',
    );
    expect(topicFor('tasksNew')).toBe('tasks/new');
    for (const bad of ['+', '#', 'a/b', '']) {
      expect(() => topicFor('tasksAssigned', { agent: bad })).toThrow(/must be one level/);
    }
  });

  it('gives each topic a filter with + for its parameters, and a topic matches its own entry', () => {
    expect(filterFor('agentStatus')).toBe('agents/+/status');
    for (const key of Object.keys(TOPICS) as TopicKey[]) {
      const concrete = TOPICS[key].pattern.replace(/\{\w+\}/g, 'x1');
      expect(matchTopic(concrete)?.key, concrete).toBe(key);
    }
  });

  it("subscribes a reader at the table's QoS, the hub at its own where it differs", () => {
    expect(
      subscriptionsFor('agent', ['tasksAssigned', 'hubStatus', 'agentStatus'], { agent: 'a1' }),
    ).toEqual({ 'tasks/assigned/a1': 1, 'hub/status': 1, 'agents/a1/status': 1 });
    expect(hubSubscriptions()).toMatchObject({
      'tasks/new': 1,
      'tasks/claim': 0,
      'tasks/progress': 0,
      'agents/heartbeat': 0,
      'agents/+/status': 1,
    });
    expect(subscriptionsFor('operator', ['tasksAssigned'])).toEqual({ 'tasks/assigned/+': 1 });
  });

  it('refuses to subscribe a reader to a topic the table does not give it', () => {
    expect(() => subscriptionsFor('agent', ['tasksNew'])).toThrow(/agent does not read tasks\/new/);
    expect(() => subscriptionsFor('observer', ['tasksDelegated'])).not.toThrow();
  });

  it('names one kind of message per topic, its pattern without the parameter levels', () => {
    expect(messageKindOf('agentStatus')).toBe('agents/status');
    expect(messageKindOf('approvalDecision')).toBe('approvals/decision');
    expect(messageKindOf('hubReply')).toBe('hub/replies');
    expect(messageKindOf('tasksAssigned')).toBe('tasks/assigned');
    const kinds = (Object.keys(TOPICS) as TopicKey[]).map((key) => messageKindOf(key));
    expect(new Set(kinds).size).toBe(kinds.length);
  });

  it('keeps the TOPIC names the patterns of the same entries', () => {
    for (const [key, name] of Object.entries(TOPIC)) {
      const pattern = TOPICS[key as TopicKey].pattern;
      expect(pattern === name || pattern.startsWith(`${name}/{`), key).toBe(true);
    }
  });
});
