import type { KnownEvent } from './bus-event.js';
import type { DashboardState, TaskView, TaskViewState } from './view-model.js';

export function isFinished(state: TaskViewState): boolean {
  return state === 'complete' || state === 'dead';
}

/** Insert a task the dashboard did not know, keeping the state indexes and bounds. */
export function addTask(state: DashboardState, task: TaskView): TaskView {
  state.tasks.set(task.taskId, task);
  state.byState[task.state].add(task.taskId);
  if (task.state === 'blocked') blockOnNeeds(state, task);
  if (isFinished(task.state)) rememberFinished(state, task);
  return task;
}

export function newTask(
  taskId: string,
  at: number,
  fields: Partial<TaskView> & Pick<TaskView, 'state'>,
): TaskView {
  return {
    taskId,
    type: '?',
    priority: 'normal',
    agentId: null,
    attempt: 0,
    createdAt: at,
    updatedAt: at,
    progress: null,
    lastError: null,
    needs: [],
    work: null,
    history: [],
    ...fields,
  };
}

/**
 * Move a task to another state: O(1) on the indexes; counters count transitions, so a message
 * seen twice (or a completion already in the hub's snapshot) is not counted twice.
 */
export function moveTask(
  state: DashboardState,
  task: TaskView,
  to: TaskViewState,
  at: number,
): void {
  task.updatedAt = at;
  if (task.state === to) return;
  const wasFinished = isFinished(task.state);
  state.byState[task.state].delete(task.taskId);
  state.byState[to].add(task.taskId);
  task.state = to;
  if (to === 'assigned') task.progress = null; // a new attempt starts from nothing
  if (to === 'complete') {
    state.counters.complete += 1;
    state.completions.push(at);
  }
  if (to === 'dead') state.counters.dead += 1;
  if (isFinished(to) && !wasFinished) {
    releaseFromAgent(state, task);
    dropApprovalsOf(state, task.taskId);
    rememberFinished(state, task);
    settleDependents(state, task, at);
  }
}

/** Tasks the agent runs, as the dashboard last heard; the task's end frees the slot. */
export function releaseFromAgent(state: DashboardState, task: TaskView): void {
  const agent = task.agentId ? state.agents.get(task.agentId) : undefined;
  if (!agent) return;
  const index = agent.running.indexOf(task.taskId);
  if (index >= 0) agent.running.splice(index, 1);
  if (agent.running.length === 0 && agent.state === 'busy') agent.state = 'idle';
}

export function dropApprovalsOf(state: DashboardState, taskId: string): void {
  for (const [id, approval] of state.approvals) {
    if (approval.taskId === taskId) state.approvals.delete(id);
  }
}

/** Keep the newest finished tasks only; counters already hold the rest. */
function rememberFinished(state: DashboardState, task: TaskView): void {
  state.finished.push(task.taskId);
  while (state.finished.size > state.limits.finishedTasks) {
    const oldest = state.finished.shift()!;
    const old = state.tasks.get(oldest);
    if (old && isFinished(old.state)) {
      state.tasks.delete(oldest);
      state.byState[old.state].delete(oldest);
    }
  }
}

/**
 * A need blocks when the dashboard knows it unfinished. One it does not know finished before
 * the dashboard started (or was pruned), so it does not block: the hub decides anyway, and the
 * grant moves the task on whatever the dashboard guessed.
 */
export function unfinishedNeeds(state: DashboardState, task: TaskView): string[] {
  return task.needs.filter((need) => {
    const known = state.tasks.get(need);
    return known !== undefined && !isFinished(known.state);
  });
}

function blockOnNeeds(state: DashboardState, task: TaskView): void {
  for (const need of unfinishedNeeds(state, task)) {
    let dependents = state.blockedOn.get(need);
    if (!dependents) state.blockedOn.set(need, (dependents = new Set()));
    dependents.add(task.taskId);
  }
}

/** PROTOCOL §7: a task becomes claimable when every need is complete. */
function settleDependents(state: DashboardState, task: TaskView, at: number): void {
  const dependents = state.blockedOn.get(task.taskId);
  if (!dependents) return;
  state.blockedOn.delete(task.taskId);
  if (task.state !== 'complete') return; // the hub dead-letters them and says so on tasks/dead
  for (const id of dependents) {
    const dependent = state.tasks.get(id);
    if (dependent?.state === 'blocked' && unfinishedNeeds(state, dependent).length === 0) {
      moveTask(state, dependent, 'queued', at);
    }
  }
}

/** Apply one tasks/* message; returns the task it concerned, for its history. */
export function applyTaskMessage(
  state: DashboardState,
  event: KnownEvent,
  at: number,
): TaskView | undefined {
  switch (event.kind) {
    case 'tasks/new': {
      const spec = event.payload;
      const known = state.tasks.get(spec.task_id);
      const work = spec.prompt ?? spec.commands?.join(' && ') ?? null;
      if (known) {
        // A resubmission or a redelivery; the spec may still fill in what a grant did not say.
        known.work ??= work;
        return known;
      }
      const task = newTask(spec.task_id, at, {
        type: spec.type,
        priority: spec.priority ?? 'normal',
        state: 'queued',
        needs: spec.needs ?? [],
        work,
      });
      if (unfinishedNeeds(state, task).length > 0) task.state = 'blocked';
      return addTask(state, task);
    }
    case 'tasks/assigned': {
      const grant = event.payload;
      const task =
        state.tasks.get(grant.task_id) ??
        addTask(
          state,
          newTask(grant.task_id, at, {
            type: grant.task.type,
            priority: grant.task.priority ?? 'normal',
            state: 'queued',
            needs: grant.task.needs ?? [],
            work: grant.task.prompt ?? grant.task.commands?.join(' && ') ?? null,
          }),
        );
      // Fencing (PROTOCOL §3.5): an older attempt's grant, seen late, changes nothing; nor
      // does a redelivery of the live one.
      const live = task.state === 'assigned' || task.state === 'running';
      if (grant.attempt < task.attempt || (grant.attempt === task.attempt && live)) return task;
      if (isFinished(task.state)) return task;
      releaseFromAgent(state, task);
      task.attempt = grant.attempt;
      task.agentId = grant.agent_id;
      moveTask(state, task, 'assigned', at);
      const agent = state.agents.get(grant.agent_id);
      if (agent && !agent.running.includes(task.taskId)) {
        agent.running.push(task.taskId);
        if (agent.state === 'idle') agent.state = 'busy';
      }
      return task;
    }
    default:
      return applyOutcome(state, event, at);
  }
}

/** Progress, results, releases and dead letters: only the live attempt moves a task (§4.6). */
function applyOutcome(state: DashboardState, event: KnownEvent, at: number): TaskView | undefined {
  if (
    event.kind !== 'tasks/progress' &&
    event.kind !== 'tasks/complete' &&
    event.kind !== 'tasks/failed' &&
    event.kind !== 'tasks/release' &&
    event.kind !== 'tasks/dead'
  ) {
    return undefined;
  }
  const taskId = event.payload.task_id;
  const attempt = event.kind === 'tasks/dead' ? undefined : event.payload.attempt;
  let task = state.tasks.get(taskId);
  if (!task) {
    // Started before the dashboard, and no hub snapshot listed it: learn it from here.
    task = addTask(
      state,
      newTask(taskId, at, {
        state: 'assigned',
        attempt: attempt ?? 0,
        agentId: event.kind === 'tasks/dead' ? null : event.envelope.agent_id,
      }),
    );
  }
  if (isFinished(task.state)) return task;
  if (attempt !== undefined && attempt < task.attempt) return task; // stale attempt
  switch (event.kind) {
    case 'tasks/progress':
      task.progress = { message: event.payload.message, percent: event.payload.percent };
      moveTask(state, task, 'running', at);
      break;
    case 'tasks/complete':
      moveTask(state, task, 'complete', at);
      break;
    case 'tasks/failed':
      state.counters.failed += 1;
      task.lastError = event.payload.error;
      requeue(state, task, at);
      break;
    case 'tasks/release':
      if (event.payload.refused) task.lastError = event.payload.reason;
      requeue(state, task, at);
      break;
    case 'tasks/dead':
      task.lastError = event.payload.error;
      moveTask(state, task, 'dead', at);
      break;
  }
  return task;
}

/** A failed or handed-back attempt: the hub queues the task again (or dead-letters it, §5). */
function requeue(state: DashboardState, task: TaskView, at: number): void {
  releaseFromAgent(state, task);
  dropApprovalsOf(state, task.taskId);
  moveTask(state, task, 'queued', at);
}
