import type { TaskAssigned } from '../protocol/messages.js';
import { canRoleRun, type TaskTypeTable } from '../protocol/task-types.js';

/** How many finished attempts an agent remembers, to ignore redelivered grants. */
const RAN_MEMORY = 1_000;

export type Verdict =
  /** Run it. */
  | { kind: 'run' }
  /** A QoS 1 redelivery (or a replay) of an attempt running or run: nothing to do. */
  | { kind: 'duplicate' }
  /** Hand it back; `refused`: this agent can never run it (counts as a failure, §3.7). */
  | { kind: 'release'; reason: string; refused: boolean };

/** What the agent is doing when a grant arrives. */
export interface IntakeState {
  draining: boolean;
  /** Task id → the attempt running. */
  running: ReadonlyMap<string, number>;
}

/**
 * What an agent does with a grant addressed to it (PROTOCOL §3.6), checked in order: a grant for
 * someone else is ignored; an attempt it runs or ran is a duplicate; stopping, a type its role
 * may not run, no free slot — each is handed back; anything else runs. Pure, apart from the
 * memory of attempts run.
 */
export class GrantIntake {
  private readonly ran = new Set<string>();

  constructor(
    private readonly agentId: string,
    private readonly role: string,
    private readonly concurrency: number,
    private readonly taskTypes: TaskTypeTable,
  ) {}

  /** undefined: the grant names another agent (its topic said ours: ignore it). */
  consider(grant: TaskAssigned, state: IntakeState): Verdict | undefined {
    if (grant.agent_id !== this.agentId) return undefined;
    const { task_id: taskId, attempt } = grant;
    if (state.running.get(taskId) === attempt || this.ran.has(attemptKey(taskId, attempt))) {
      return { kind: 'duplicate' };
    }
    if (state.draining)
      return { kind: 'release', reason: 'agent is shutting down', refused: false };
    if (!canRoleRun(this.taskTypes, this.role, grant.task.type)) {
      return {
        kind: 'release',
        reason: `role ${this.role} cannot run task type ${grant.task.type}`,
        refused: true,
      };
    }
    if (state.running.size >= this.concurrency) {
      return { kind: 'release', reason: 'agent has no free slot', refused: false };
    }
    return { kind: 'run' };
  }

  /** An attempt ended: a grant of it delivered again later is not run again. Bounded. */
  remember(taskId: string, attempt: number): void {
    this.ran.add(attemptKey(taskId, attempt));
    if (this.ran.size > RAN_MEMORY) this.ran.delete(this.ran.values().next().value!);
  }
}

function attemptKey(taskId: string, attempt: number): string {
  return `${taskId}#${attempt}`;
}
