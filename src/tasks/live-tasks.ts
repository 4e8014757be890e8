import type { TaskRecord } from './task-record.js';

/** An unfinished task as the scheduler holds it; blocked ones know what they still wait on. */
export interface LiveTask extends TaskRecord {
  /** Needs not complete yet (blocked tasks). */
  waitingOn?: Set<string>;
  /** Progress events recorded in the ledger for this attempt (MAX_PROGRESS_EVENTS at most). */
  progressNoted?: { attempt: number; count: number };
  /** Approval requests recorded for this attempt (MAX_REQUESTS_PER_ATTEMPT at most). */
  approvalsAsked?: { attempt: number; count: number };
  /**
   * Subtasks recorded under it, over all its attempts (security.maxSubtasksPerTask at most):
   * counted in the ledger when an agent first submits one in this hub's life, then kept here.
   */
  subtasks?: number;
}

const NONE: ReadonlySet<string> = new Set();

/**
 * Every unfinished task — blocked, queued, assigned — in memory, with the indexes the hub's
 * decisions need, so none of them costs a query (PROTOCOL §3.8): by id, by idempotency key, by
 * the agent holding it, by the need it waits on, and how many each submitter has.
 */
export class LiveTasks {
  private readonly byId = new Map<string, LiveTask>();
  private readonly byKey = new Map<string, string>();
  private readonly held = new Map<string, Set<string>>();
  private readonly waiters = new Map<string, Set<string>>();
  private readonly perSubmitter = new Map<string, number>();

  get size(): number {
    return this.byId.size;
  }

  get(taskId: string): LiveTask | undefined {
    return this.byId.get(taskId);
  }

  withKey(key: string): LiveTask | undefined {
    const id = this.byKey.get(key);
    return id === undefined ? undefined : this.byId.get(id);
  }

  values(): IterableIterator<LiveTask> {
    return this.byId.values();
  }

  add(task: LiveTask): void {
    this.byId.set(task.taskId, task);
    const key = task.spec.idempotency_key;
    if (key) this.byKey.set(key, task.taskId);
    this.perSubmitter.set(task.submittedBy, (this.perSubmitter.get(task.submittedBy) ?? 0) + 1);
    if (task.state === 'assigned' && task.agentId) this.hold(task, task.agentId);
    for (const need of task.waitingOn ?? []) this.wait(task.taskId, need);
  }

  /** The task finished (complete or dead): it leaves every index. */
  remove(task: LiveTask): void {
    if (this.byId.get(task.taskId) !== task) return;
    this.byId.delete(task.taskId);
    const key = task.spec.idempotency_key;
    if (key && this.byKey.get(key) === task.taskId) this.byKey.delete(key);
    const left = (this.perSubmitter.get(task.submittedBy) ?? 1) - 1;
    if (left > 0) this.perSubmitter.set(task.submittedBy, left);
    else this.perSubmitter.delete(task.submittedBy);
    this.unhold(task);
    for (const need of task.waitingOn ?? []) this.unwait(task.taskId, need);
  }

  hold(task: LiveTask, agentId: string): void {
    let set = this.held.get(agentId);
    if (!set) {
      set = new Set();
      this.held.set(agentId, set);
    }
    set.add(task.taskId);
  }

  /** The task is no longer assigned to the agent that held it. */
  unhold(task: LiveTask): void {
    if (!task.agentId) return;
    const set = this.held.get(task.agentId);
    set?.delete(task.taskId);
    if (set?.size === 0) this.held.delete(task.agentId);
  }

  /** Ids of the tasks assigned to an agent. */
  heldBy(agentId: string): ReadonlySet<string> {
    return this.held.get(agentId) ?? NONE;
  }

  /** Agents holding at least one task. */
  holders(): IterableIterator<string> {
    return this.held.keys();
  }

  /** Ids of the blocked tasks waiting on `needId`. */
  waitingFor(needId: string): ReadonlySet<string> {
    return this.waiters.get(needId) ?? NONE;
  }

  /** A blocked task no longer waits on `needId` (it completed). */
  satisfied(task: LiveTask, needId: string): void {
    task.waitingOn?.delete(needId);
    this.unwait(task.taskId, needId);
  }

  unfinishedBy(submitter: string): number {
    return this.perSubmitter.get(submitter) ?? 0;
  }

  private wait(taskId: string, needId: string): void {
    let set = this.waiters.get(needId);
    if (!set) {
      set = new Set();
      this.waiters.set(needId, set);
    }
    set.add(taskId);
  }

  private unwait(taskId: string, needId: string): void {
    const set = this.waiters.get(needId);
    set?.delete(taskId);
    if (set?.size === 0) this.waiters.delete(needId);
  }
}
