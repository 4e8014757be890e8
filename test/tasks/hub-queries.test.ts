import { afterEach, describe, expect, it } from 'vitest';
import { SUMMARY_ERROR_CHARS } from '../../src/protocol/limits.js';
import { AgentRegistry } from '../../src/tasks/agent-registry.js';
import { answerQuery } from '../../src/tasks/hub-queries.js';
import { Ledger } from '../../src/tasks/ledger.js';
import { LiveTasks } from '../../src/tasks/live-tasks.js';
import { recordTask } from '../helpers/decisions.js';

describe("the hub's answers to queries", () => {
  let ledger: Ledger;
  afterEach(() => ledger.close());

  /** A ledger of `count` dead tasks, each killed with an error of 100,000 characters. */
  function deadTasks(count: number): Ledger {
    ledger = new Ledger(':memory:');
    for (let i = 0; i < count; i++) {
      const taskId = `t${i}`;
      recordTask(ledger, { task_id: taskId, type: 'testing.run', payload: {} });
      const reason = `${'x'.repeat(99_990)} the end ${i}`;
      ledger.apply([
        { kind: 'kill', at: 1, deaths: [{ taskId, attempt: 0, agentId: null, reason }] },
      ]);
    }
    return ledger;
  }

  const ask = (query: Parameters<typeof answerQuery>[0]) =>
    answerQuery(query, ledger, new AgentRegistry(), { live: new LiveTasks() }, 0);

  it("cuts each listed task's error, so a list of tasks with 100,000-character errors stays small", () => {
    deadTasks(50);
    const reply = ask({ query_id: 'q', reply_to: 'r/c', kind: 'tasks', limit: 50 });
    const tasks = (reply.data as { tasks: { last_error: string }[] }).tasks;
    expect(tasks).toHaveLength(50);
    for (const task of tasks) expect(task.last_error).toHaveLength(SUMMARY_ERROR_CHARS);
    // 50 errors of 100 kB whole would be 5 MB.
    expect(Buffer.byteLength(JSON.stringify(reply))).toBeLessThan(100_000);
  });

  it("gives one task's error whole in its detail", () => {
    deadTasks(1);
    const reply = ask({ query_id: 'q', reply_to: 'r/c', kind: 'task', task_id: 't0' });
    expect((reply.data as { last_error: string }).last_error).toMatch(/^x{99990} the end 0$/);
  });
});
