import type { TaskSpec } from '../../src/protocol/messages.js';
import type { Admit } from '../../src/tasks/decisions.js';
import type { Ledger } from '../../src/tasks/ledger.js';
import { PRIORITY_RANK } from '../../src/tasks/task-record.js';

let seq = 0;

/** The decision the scheduler makes when a task is submitted, for tests of the ledger. */
export function admitDecision(
  spec: TaskSpec,
  options: { submittedBy?: string; at?: number; maxAttempts?: number } = {},
): Admit {
  const needs = [...new Set(spec.needs ?? [])];
  const priority = spec.priority === undefined ? 'normal' : spec.priority;
  return {
    kind: 'admit',
    at: options.at ?? 0,
    task: {
      seq: ++seq,
      taskId: spec.task_id,
      type: spec.type,
      priority: PRIORITY_RANK[priority],
      state: needs.length > 0 ? 'blocked' : 'queued',
      spec,
      submittedBy: options.submittedBy ?? 'cli',
      idempotencyKey: spec.idempotency_key ?? null,
      parentTaskId: spec.parent_task_id ?? null,
      maxAttempts: spec.max_attempts ?? options.maxAttempts ?? 3,
    },
    needs,
  };
}

/** Record a submitted task in the ledger, as the hub would. */
export function recordTask(ledger: Ledger, spec: TaskSpec, submittedBy = 'cli', at = 0): void {
  ledger.apply([admitDecision(spec, { submittedBy, at })]);
}
