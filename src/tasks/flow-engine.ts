import type { Config } from '../config/load.js';
import { renderStep } from '../flows/render-step.js';
import type { Logger } from '../logging/logger.js';
import type {
  FlowState,
  FlowSubmit,
  FlowUpdate,
  StepState,
  StepView,
} from '../protocol/flow-messages.js';
import type { AgentRegistry } from './agent-registry.js';
import { FlowStore, type FlowRow, type StepRow } from './flow-store.js';
import type { Ledger } from './ledger.js';
import type { Scheduler, TaskListener } from './scheduler.js';
import type { TaskRecord } from './task-record.js';

/** How long the hub keeps telling an agent that still runs a canceled attempt to stop it. */
const REMIND_FOR_MS = 10 * 60_000;
const REMIND_EVERY_MS = 5_000;

/** What became of a step, for deciding what comes next. */
type Outcome = 'pending' | 'complete' | 'failed' | 'skipped' | 'canceled';

/**
 * The hub's flows (PROTOCOL §17.2): a flow is recorded whole, its steps become tasks one by one
 * as their needs complete — rendered then, with the outputs of the steps they need — and it ends
 * when no step can run any more. A dead step runs its `on_failure` step and skips what needed
 * it. Every decision is synchronous and made inside the scheduler's (a step's task granted,
 * complete or dead) or the hub's handling of a message; what it changes is recorded with the
 * rest of the turn, in one transaction (PROTOCOL §3.8), and what it sends goes after that. A hub
 * killed between two turns resumes from the ledger at its next start (`restore`).
 */
export class FlowEngine implements TaskListener {
  readonly store: FlowStore;
  /** Flows whose update is to be sent at the end of this turn. */
  private readonly dirty = new Set<string>();
  /** Canceled attempts whose agent may still run them: task#attempt → when and whose. */
  private readonly reminders = new Map<
    string,
    { agentId: string; reason: string; at: number; sent: number }
  >();

  constructor(
    private readonly ledger: Ledger,
    private readonly scheduler: Scheduler,
    private readonly registry: AgentRegistry,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {
    this.store = new FlowStore(ledger);
  }

  /** At start: carry on every running flow (a step may have ended while the hub was down). */
  restore(): void {
    for (const flowId of this.store.runningFlowIds()) this.advance(flowId);
    const since = this.now() - REMIND_FOR_MS;
    for (const canceled of this.store.canceledAttempts(since)) {
      this.reminders.set(`${canceled.taskId}#${canceled.attempt}`, {
        agentId: canceled.agentId,
        reason: 'its flow was canceled',
        at: canceled.at,
        sent: 0,
      });
    }
  }

  /** Record a checked flow and start the steps that need nothing, in this turn. */
  submit(flow: FlowSubmit, submittedBy: string, scheduleName?: string): void {
    this.store.insert(flow, submittedBy, this.now(), scheduleName);
    this.advance(flow.flow_id);
    this.logger.info(
      { flowId: flow.flow_id, steps: flow.steps.length, by: submittedBy },
      `flow ${flow.flow_id} recorded`,
    );
    this.markDirty(flow.flow_id);
  }

  // Only the hub sets `flow_id` (hub-handlers refuses it on tasks/new): a task without one is
  // no step, and costs the scheduler no read of the flow tables.
  onGranted(task: TaskRecord): void {
    if (task.spec.flow_id === undefined) return;
    const step = this.store.stepOfTask(task.taskId);
    if (step) this.markDirty(step.flowId);
  }

  onFinished(task: TaskRecord): void {
    if (task.spec.flow_id === undefined) return;
    const step = this.store.stepOfTask(task.taskId);
    if (!step) return;
    this.advance(step.flowId);
    this.markDirty(step.flowId);
  }

  /**
   * Cancel a running flow (PROTOCOL §17.3): steps not started never will be; queued ones are
   * dead; running ones are dead too and their agents are told to stop them.
   */
  cancel(
    flowId: string,
    by: string,
    reason: string | undefined,
  ): { ok: true; canceled: number } | { ok: false; error: string } {
    const flow = this.store.get(flowId);
    if (!flow) return { ok: false, error: `no flow "${flowId}" in the ledger` };
    if (flow.state !== 'running')
      return { ok: false, error: `flow ${flowId} is already ${flow.state}` };
    const why = `canceled: flow ${flowId} canceled by ${by}${reason ? `: ${reason}` : ''}`;
    const now = this.now();
    let canceled = 0;
    // First the flow, so the deaths below do not advance it.
    this.store.finish(flowId, 'canceled', why, now);
    for (const step of this.store.steps(flowId)) {
      if (step.state === 'waiting') {
        this.store.setStep(
          flowId,
          step.stepId,
          'canceled',
          { note: 'canceled before it started' },
          now,
        );
        continue;
      }
      const task = step.taskId ? this.scheduler.find(step.taskId) : undefined;
      if (step.state !== 'started' || !task || task.state === 'complete' || task.state === 'dead')
        continue;
      this.store.setStep(flowId, step.stepId, 'canceled', { note: why }, now);
      if (task.state === 'assigned' && task.agentId) {
        this.scheduler.note(task.taskId, 'canceled', task.agentId, task.attempt, {
          by,
          reason: why,
        });
        this.reminders.set(`${task.taskId}#${task.attempt}`, {
          agentId: task.agentId,
          reason: why,
          at: now,
          sent: now,
        });
        this.tellAgent(task.agentId, task.taskId, task.attempt, why);
      }
      this.scheduler.abandon(task.taskId, why);
      canceled += 1;
    }
    this.logger.info({ flowId, by, canceled }, why);
    this.markDirty(flowId);
    return { ok: true, canceled };
  }

  /**
   * An agent says it runs attempts: any of them canceled, it missed the cancel (it was away, or
   * the message was lost): say it again, at most every few seconds.
   */
  remind(agentId: string, running: readonly { task_id: string; attempt: number }[]): void {
    if (this.reminders.size === 0) return;
    const now = this.now();
    for (const ref of running) {
      const key = `${ref.task_id}#${ref.attempt}`;
      const reminder = this.reminders.get(key);
      if (!reminder || reminder.agentId !== agentId || now - reminder.sent < REMIND_EVERY_MS)
        continue;
      reminder.sent = now;
      this.tellAgent(agentId, ref.task_id, ref.attempt, reminder.reason);
    }
    for (const [key, reminder] of this.reminders) {
      if (now - reminder.at > REMIND_FOR_MS) this.reminders.delete(key);
    }
  }

  /** A flow as its watchers see it: each step's state, agent and times. */
  view(flowId: string): FlowUpdate | undefined {
    const flow = this.store.get(flowId);
    return flow ? this.viewOf(flow, this.store.steps(flowId)) : undefined;
  }

  viewOf(flow: FlowRow, rows: StepRow[]): FlowUpdate {
    const byId = new Map(flow.definition.steps.map((step) => [step.id, step]));
    return {
      flow_id: flow.flowId,
      name: flow.name,
      state: flow.state,
      steps: rows.map((row) => this.stepView(row, byId.get(row.stepId)?.type ?? '?')),
      created_at: new Date(flow.createdAt).toISOString(),
      finished_at: flow.finishedAt === null ? null : new Date(flow.finishedAt).toISOString(),
      error: flow.error,
    };
  }

  private stepView(row: StepRow, type: string): StepView {
    const task = row.taskId ? this.scheduler.find(row.taskId) : undefined;
    const started = task ? this.store.startedAt(task.taskId) : null;
    const finished = task && (task.state === 'complete' || task.state === 'dead');
    return {
      id: row.stepId,
      type,
      state: viewState(row, task),
      task_id: row.taskId,
      agent_id: task?.agentId ?? (task ? this.lastAgentOf(task) : null),
      attempt: task?.attempt ?? 0,
      started_at: started === null ? null : new Date(started).toISOString(),
      finished_at: finished ? new Date(task.updatedAt).toISOString() : null,
    };
  }

  /** Who ran a finished task's last attempt (the ledger clears `agent_id` when a task dies). */
  private lastAgentOf(task: TaskRecord): string | null {
    if (task.attempt === 0) return null;
    const grant = this.ledger
      .history(task.taskId)
      .filter((event) => event.kind === 'assigned')
      .at(-1);
    return grant?.agentId ?? null;
  }

  /**
   * Decide what the flow does next: start each waiting step whose needs are complete (or whose
   * rescued step is dead), skip those that can no longer run, and end the flow when nothing is
   * left to wait for. Repeats until nothing changes, since a skip can settle another step.
   */
  private advance(flowId: string): void {
    const flow = this.store.get(flowId);
    if (!flow || flow.state !== 'running') return;
    const definition = flow.definition;
    const now = this.now();
    const rows = new Map(this.store.steps(flowId).map((row) => [row.stepId, row]));
    const triggers = new Map<string, string[]>();
    for (const step of definition.steps) {
      if (step.on_failure)
        triggers.set(step.on_failure, [...(triggers.get(step.on_failure) ?? []), step.id]);
    }
    const outcome = (stepId: string): Outcome => outcomeOf(rows.get(stepId), this.scheduler);
    for (let changed = true; changed;) {
      changed = false;
      for (const step of definition.steps) {
        const row = rows.get(step.id);
        if (row?.state !== 'waiting') continue;
        const rescues = triggers.get(step.id);
        let decision: { start: boolean; triggered: boolean } | { skip: string } | undefined;
        if (rescues) {
          if (rescues.some((id) => outcome(id) === 'failed'))
            decision = { start: true, triggered: true };
          else if (rescues.every((id) => outcome(id) !== 'pending')) {
            decision = { skip: `not needed: ${rescues.join(', ')} did not fail` };
          }
        } else {
          const blocker = step.needs.find((need) =>
            ['failed', 'skipped', 'canceled'].includes(outcome(need)),
          );
          if (blocker)
            decision = { skip: `needs ${blocker}, which ${describeOutcome(outcome(blocker))}` };
          else if (step.needs.every((need) => outcome(need) === 'complete')) {
            decision = { start: true, triggered: false };
          }
        }
        if (!decision) continue;
        changed = true;
        if ('skip' in decision) {
          this.store.setStep(flowId, step.id, 'skipped', { note: decision.skip }, now);
          rows.set(step.id, { ...row, state: 'skipped', note: decision.skip });
          continue;
        }
        rows.set(step.id, this.startStep(flow, step.id, decision.triggered, rows, now));
      }
    }
    const outcomes = definition.steps.map((step) => outcome(step.id));
    if (outcomes.includes('pending')) return;
    const failed = definition.steps.filter((step) => outcome(step.id) === 'failed');
    const state: FlowState = failed.length > 0 ? 'failed' : 'succeeded';
    const error =
      failed.length === 0
        ? null
        : failed
            .map((step) => `step ${step.id} failed: ${this.failureOf(rows.get(step.id))}`)
            .join('; ');
    this.store.finish(flowId, state, error, now);
    this.logger.info({ flowId, state }, `flow ${flowId} ${state}${error ? `: ${error}` : ''}`);
  }

  private startStep(
    flow: FlowRow,
    stepId: string,
    triggered: boolean,
    rows: ReadonlyMap<string, StepRow>,
    now: number,
  ): StepRow {
    const definition = flow.definition;
    const step = definition.steps.find((candidate) => candidate.id === stepId)!;
    const row = rows.get(stepId)!;
    const rendered = renderStep(definition, step, (id) => this.outputsOf(rows.get(id)), {
      triggered,
    });
    if ('error' in rendered) {
      this.store.setStep(flow.flowId, stepId, 'failed', { note: rendered.error }, now);
      return { ...row, state: 'failed', note: rendered.error };
    }
    const spec = rendered.spec;
    const limit = this.config.maxPayloadBytes - 16_384;
    const size = Buffer.byteLength(JSON.stringify(spec));
    if (size > limit) {
      const note = `its task is ${size} bytes, more than the ${limit} a task may be`;
      this.store.setStep(flow.flowId, stepId, 'failed', { note }, now);
      return { ...row, state: 'failed', note };
    }
    // Its needs are complete (an on_failure step has none), so it is queued at once; the
    // scheduler grants it at the end of this turn. A task of that id already recorded is this
    // step's: taken as it is (idempotent).
    this.scheduler.admit(spec, flow.submittedBy);
    this.store.setStep(flow.flowId, stepId, 'started', { taskId: spec.task_id }, now);
    this.logger.info(
      { flowId: flow.flowId, step: stepId, taskId: spec.task_id },
      'flow step started',
    );
    return { ...row, state: 'started', taskId: spec.task_id };
  }

  private outputsOf(row: StepRow | undefined): Record<string, string> | undefined {
    const task = row?.taskId ? this.scheduler.find(row.taskId) : undefined;
    const outputs = (task?.result as { outputs?: unknown } | undefined)?.outputs;
    if (!outputs || typeof outputs !== 'object') return undefined;
    return Object.fromEntries(
      Object.entries(outputs).filter(
        (entry): entry is [string, string] => typeof entry[1] === 'string',
      ),
    );
  }

  private failureOf(row: StepRow | undefined): string {
    if (!row) return 'unknown';
    if (row.taskId) return this.scheduler.find(row.taskId)?.lastError ?? row.note ?? 'unknown';
    return row.note ?? 'unknown';
  }

  /** Sent once this turn is recorded (the cancel is in the task's history first). */
  private tellAgent(agentId: string, taskId: string, attempt: number, reason: string): void {
    const agent = this.registry.get(agentId);
    const cancel = { task_id: taskId, attempt, reason };
    this.scheduler.send({
      key: 'tasksCancel',
      params: { agent: agentId },
      recipient: { name: agentId, ...(agent ? { role: agent.role } : {}) },
      payload: () => cancel,
    });
  }

  /** Watchers hear of a flow once per turn, with its state once the turn is recorded. */
  private markDirty(flowId: string): void {
    if (this.dirty.has(flowId)) return;
    this.dirty.add(flowId);
    this.scheduler.send({
      key: 'flowUpdate',
      payload: () => {
        this.dirty.delete(flowId);
        const view = this.view(flowId);
        if (!view) throw new Error(`flow ${flowId} is no longer in the ledger`);
        return view;
      },
    });
  }
}

/** Where a step's task is read: the hub's memory first, then the ledger. */
export interface TaskLookup {
  find(taskId: string): TaskRecord | undefined;
}

export function outcomeOf(row: StepRow | undefined, tasks: TaskLookup): Outcome {
  if (!row) return 'pending';
  switch (row.state) {
    case 'waiting':
      return 'pending';
    case 'skipped':
      return 'skipped';
    case 'failed':
      return 'failed';
    case 'canceled':
      return 'canceled';
    case 'started': {
      const task = row.taskId ? tasks.find(row.taskId) : undefined;
      if (!task) return 'failed'; // pruned, or lost: it will not complete
      return task.state === 'complete' ? 'complete' : task.state === 'dead' ? 'failed' : 'pending';
    }
  }
}

function describeOutcome(outcome: Outcome): string {
  return outcome === 'failed' ? 'failed' : outcome === 'skipped' ? 'was skipped' : 'was canceled';
}

function viewState(row: StepRow, task: TaskRecord | undefined): StepState {
  if (row.state !== 'started') return row.state;
  if (!task) return 'failed';
  switch (task.state) {
    case 'blocked':
    case 'queued':
      return 'queued';
    case 'assigned':
      return 'running';
    case 'complete':
      return 'complete';
    case 'dead':
      return 'failed';
  }
}
