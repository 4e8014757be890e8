import { describe, expect, it } from 'vitest';
import {
  TOPIC,
  agentIdOfStatusTopic,
  agentStatusTopic,
  buildTopic,
  checkSwarmName,
  hubReplyTopic,
  localTopic,
} from '../../src/protocol/topics.js';

describe('TOPIC', () => {
  it('uses the topic names of SPEC §2', () => {
    expect(TOPIC).toMatchObject({
      tasksNew: 'tasks/new',
      tasksAssigned: 'tasks/assigned',
      tasksProgress: 'tasks/progress',
      tasksComplete: 'tasks/complete',
      tasksFailed: 'tasks/failed',
      tasksDead: 'tasks/dead',
      agentsRegister: 'agents/register',
      agentsHeartbeat: 'agents/heartbeat',
      agentsShutdown: 'agents/shutdown',
      broadcast: 'broadcast',
      errors: 'errors',
    });
  });

  it('holds no wildcard, empty level or leading slash', () => {
    for (const name of Object.values(TOPIC)) {
      expect(name, name).not.toMatch(/[+#]|^\/|\/$|\/\//);
    }
  });

  it('gives every topic a distinct name', () => {
    const names = Object.values(TOPIC);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('checkSwarmName', () => {
  it.each(['opencto-dev', 'a', 'Prod_2.eu', '9lives', 'x'.repeat(64)])('accepts "%s"', (name) => {
    expect(checkSwarmName(name)).toBeUndefined();
  });

  it.each([
    ['is empty', ''],
    ['holds a "/" that adds a topic level', 'a/b'],
    ['holds a "+" wildcard', 'a+b'],
    ['holds a "#" wildcard', 'a#'],
    ['holds a space', 'my swarm'],
    ['starts with "$", reserved for broker topics', '$SYS'],
    ['starts with a dot', '.hidden'],
    ['is 65 characters long', 'x'.repeat(65)],
    ['holds a NUL', 'a\0b'],
  ])('rejects a name that %s', (_why, name) => {
    const problem = checkSwarmName(name);
    expect(problem).toBe(
      `swarm name "${name}" must be 1-64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  });
});

describe('topic builders', () => {
  it('puts a topic under its swarm', () => {
    expect(buildTopic('demo', TOPIC.tasksNew)).toBe('demo/tasks/new');
  });

  it('builds the retained status topic of an agent', () => {
    expect(agentStatusTopic('demo', 'testing-1a2b3c')).toBe('demo/agents/testing-1a2b3c/status');
  });

  it('builds a private reply topic for a client', () => {
    expect(hubReplyTopic('demo', 'sheri-cli-abc')).toBe('demo/hub/replies/sheri-cli-abc');
  });
});

describe('localTopic', () => {
  it('strips the swarm prefix', () => {
    expect(localTopic('demo', 'demo/tasks/new')).toBe('tasks/new');
  });

  it('is undefined for another swarm whose name starts the same', () => {
    expect(localTopic('demo', 'demo2/tasks/new')).toBeUndefined();
  });

  it('is undefined for the bare swarm name', () => {
    expect(localTopic('demo', 'demo')).toBeUndefined();
  });

  it('inverts buildTopic', () => {
    for (const name of Object.values(TOPIC)) {
      expect(localTopic('demo', buildTopic('demo', name))).toBe(name);
    }
  });
});

describe('agentIdOfStatusTopic', () => {
  it('reads the agent id from a status topic', () => {
    expect(agentIdOfStatusTopic('agents/testing-1a2b3c/status')).toBe('testing-1a2b3c');
  });

  it('inverts agentStatusTopic once the swarm is stripped', () => {
    const local = localTopic('demo', agentStatusTopic('demo', 'review-9'));
    expect(local && agentIdOfStatusTopic(local)).toBe('review-9');
  });

  it.each(['agents/heartbeat', 'agents/a/b/status', 'agents//status', 'agents/a/status/x'])(
    'is undefined for "%s"',
    (local) => {
      expect(agentIdOfStatusTopic(local)).toBeUndefined();
    },
  );
});
