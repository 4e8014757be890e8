import { FLOW_STATES, type FlowState, type FlowUpdate } from '../protocol/flow-messages.js';
import { rolesForType, type TaskTypeTable } from '../protocol/task-types.js';
import type { AgentRegistry } from './agent-registry.js';
import type { FlowEngine } from './flow-engine.js';
import type { Ledger } from './ledger.js';
import { describeTiming } from './schedule-slots.js';
import type { Schedules } from './schedules.js';

/** Lines of a failed command's output a flow's summary shows. */
const TAIL_LINES = 40;
const TAIL_CHARS = 4_000;

/** One step of `sheri flow show`: the view's fields, and what people need to act on it. */
export interface StepDetail {
  id: string;
  type: string;
  state: string;
  task_id: string | null;
  agent_id: string | null;
  /** The agent's role, where the hub knows the agent; else null. */
  agent_role: string | null;
  /** Roles that may run the step's type, from the hub's table. */
  roles: string[];
  attempt: number;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  needs: string[];
  on_failure: string | null;
  /** Why it failed, was skipped or canceled. */
  note: string | null;
  outputs: Record<string, string>;
  /** The end of the failing command's output (or a check's answer), for a failed step. */
  output: string | null;
}

/** `sheri flow show`: the flow as `flows/update` says it, with each step's details. */
export interface FlowDetail {
  flow_id: string;
  name: string;
  state: FlowState;
  created_at: string;
  finished_at: string | null;
  error: string | null;
  file: string | null;
  vars: Record<string, string>;
  submitted_by: string;
  schedule: string | null;
  steps: StepDetail[];
}

export function flowDetail(
  flowId: string,
  engine: FlowEngine,
  ledger: Ledger,
  registry: AgentRegistry,
  taskTypes: TaskTypeTable,
): FlowDetail | undefined {
  const flow = engine.store.get(flowId);
  if (!flow) return undefined;
  const rows = engine.store.steps(flowId);
  const view = engine.viewOf(flow, rows);
  const definitions = new Map(flow.definition.steps.map((step) => [step.id, step]));
  return {
    flow_id: view.flow_id,
    name: view.name,
    state: view.state,
    created_at: view.created_at,
    finished_at: view.finished_at,
    error: view.error,
    file: flow.definition.file ?? null,
    vars: flow.definition.vars,
    submitted_by: flow.submittedBy,
    schedule: flow.scheduleName,
    steps: view.steps.map((step, i) => {
      const row = rows[i]!;
      const definition = definitions.get(step.id);
      const task = row.taskId ? ledger.get(row.taskId) : undefined;
      const outputs =
        (task?.result as { outputs?: Record<string, unknown> } | undefined)?.outputs ?? {};
      const started = step.started_at ? Date.parse(step.started_at) : null;
      const finished = step.finished_at ? Date.parse(step.finished_at) : null;
      const failed = step.state === 'failed';
      return {
        ...step,
        agent_role: step.agent_id ? (registry.get(step.agent_id)?.role ?? null) : null,
        roles: [...rolesForType(taskTypes, step.type)],
        duration_ms: started !== null && finished !== null ? finished - started : null,
        needs: definition?.needs ?? [],
        on_failure: definition?.on_failure ?? null,
        note: (failed ? task?.lastError : undefined) ?? row.note,
        outputs: Object.fromEntries(
          Object.entries(outputs).filter(
            (entry): entry is [string, string] => typeof entry[1] === 'string',
          ),
        ),
        output: failed && task ? failureOutput(engine.store.lastFailure(task.taskId)) : null,
      };
    }),
  };
}

export function flowList(engine: FlowEngine, limit: number, state?: string): FlowUpdate[] | string {
  if (state !== undefined && !FLOW_STATES.includes(state as FlowState)) {
    return `unknown flow state "${state}"; states are ${FLOW_STATES.join(', ')}`;
  }
  return engine.store
    .list(limit, state as FlowState | undefined)
    .map((flow) => engine.viewOf(flow, engine.store.steps(flow.flowId)));
}

export function scheduleList(
  schedules: Schedules,
  ledger: Ledger,
  engine: FlowEngine,
  now: number,
): unknown[] {
  return schedules.list().map((schedule) => {
    const next = schedules.nextRun(schedule, now);
    const last = schedule.lastRunId;
    const lastState = !last
      ? null
      : 'task' in schedule.target
        ? (ledger.get(last)?.state ?? null)
        : (engine.store.get(last)?.state ?? null);
    return {
      name: schedule.name,
      source: schedule.source,
      timing: describeTiming(schedule.timing),
      ...schedule.timing,
      runs:
        'task' in schedule.target
          ? `task ${String(schedule.target.task.type)}`
          : `flow ${schedule.target.flow.name}`,
      next_run: next === undefined ? null : new Date(next).toISOString(),
      last_slot: schedule.lastSlot === null ? null : new Date(schedule.lastSlot).toISOString(),
      last_run: last,
      last_state: lastState,
      skipped: schedule.skipped,
    };
  });
}

/** The end of what a failed attempt printed: the failing command's stderr and stdout, or a check's answer. */
export function failureOutput(detail: unknown): string | null {
  const result = ((detail as { result?: unknown } | undefined)?.result ?? detail) as
    | {
        commands?: { command: string; exit_code: number | null; stdout: string; stderr: string }[];
        http_check?: { status: number | null; body: string; error?: string };
      }
    | undefined;
  if (!result || typeof result !== 'object') return null;
  if (result.http_check) {
    const check = result.http_check;
    return tail(
      `${check.status === null ? `no answer: ${check.error ?? ''}` : `HTTP ${check.status}`}\n${check.body}`,
    );
  }
  const last = Array.isArray(result.commands) ? result.commands.at(-1) : undefined;
  if (!last) return null;
  const text = [last.stdout, last.stderr].filter((part) => part && part.trim()).join('\n');
  if (!text) return null;
  // A TAP runner (node --test) names each failing test "not ok": show from the first one on.
  // Blanks, not \s: `^\s*` spans newlines, and a task's output of many blank lines made this
  // regex quadratic on the hub's event loop (~125k lines stalled every flow query).
  const failing = /^[ \t]*not ok \d+/m.exec(text);
  const shown = failing ? head(text.slice(failing.index)) : tail(text);
  return `$ ${last.command}  (exit ${last.exit_code})\n${shown}`;
}

function head(text: string): string {
  const lines = text.trimEnd().split('\n');
  const kept = lines.length > TAIL_LINES ? [...lines.slice(0, TAIL_LINES), '…'] : lines;
  return kept.join('\n').slice(0, TAIL_CHARS);
}

function tail(text: string): string {
  const lines = text.trimEnd().split('\n');
  const kept = lines.length > TAIL_LINES ? ['…', ...lines.slice(-TAIL_LINES)] : lines;
  return kept.join('\n').slice(-TAIL_CHARS);
}
