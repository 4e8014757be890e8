import { z } from 'zod';
import { FLOW_STATES, FlowUpdate, StepView } from './flow-messages.js';
import { BudgetStatus, SandboxReport, Usage, type HubQuery } from './messages.js';

/**
 * What the hub answers to each kind of query (PROTOCOL §10), as schemas: the hub builds these
 * types, and the CLI validates a reply's `data` with them instead of trusting its shape.
 */

const Iso = z.string().max(64);
const TaskState = z.enum(['blocked', 'queued', 'assigned', 'complete', 'dead']);

/** A task as `sheri tasks --json` shows it. */
export const TaskSummary = z.looseObject({
  task_id: z.string(),
  type: z.string(),
  priority: z.string(),
  state: TaskState,
  agent_id: z.string().nullable(),
  attempt: z.int().min(0),
  failures: z.int().min(0),
  parent_task_id: z.string().nullable(),
  created_at: Iso,
  updated_at: Iso,
  last_error: z.string().nullable(),
});
export type TaskSummary = z.infer<typeof TaskSummary>;

export const TaskList = z.looseObject({
  counts: z.record(z.string(), z.int().min(0)),
  tasks: z.array(TaskSummary),
});
export type TaskList = z.infer<typeof TaskList>;

export const TaskEventView = z.looseObject({
  at: Iso,
  kind: z.string(),
  agent_id: z.string().nullable(),
  attempt: z.int().nullable(),
  detail: z.unknown(),
});
export type TaskEventView = z.infer<typeof TaskEventView>;

/** `sheri task show`: the summary, the stored spec, the result and the whole history. */
export const TaskDetail = TaskSummary.extend({
  spec: z.looseObject({
    commands: z.array(z.string()).optional(),
    prompt: z.string().optional(),
  }),
  max_attempts: z.int().min(1),
  submitted_by: z.string(),
  result: z.unknown(),
  needs: z.array(z.looseObject({ task_id: z.string(), state: TaskState.nullable() })),
  children: z.array(TaskSummary),
  history: z.array(TaskEventView),
});
export type TaskDetail = z.infer<typeof TaskDetail>;

/** An agent as `sheri agents --json` shows it. */
export const AgentSummary = z.looseObject({
  agent_id: z.string(),
  role: z.string(),
  state: z.string(),
  running: z.array(z.string()),
  free: z.int().min(0),
  last_heartbeat: Iso.nullable(),
  last_seen: Iso,
  uptime_s: z.number().nullable(),
  rss_bytes: z.number().nullable(),
  /** LLM tokens and cost since the agent started (null: it ran no prompt task). */
  usage: Usage.nullable(),
  /** Its OS sandbox (null: an agent that predates them said nothing). */
  sandbox: SandboxReport.nullable(),
});
export type AgentSummary = z.infer<typeof AgentSummary>;

export const AgentList = z.looseObject({
  now: Iso,
  agents: z.array(AgentSummary),
  budget: BudgetStatus.optional(),
});
export type AgentList = z.infer<typeof AgentList>;

export const PruneResult = z.looseObject({
  pruned: z.int().min(0),
  older_than_ms: z.int().min(0),
});
export type PruneResult = z.infer<typeof PruneResult>;

/** `sheri approvals`: the requests that wait, soonest deadline first (PROTOCOL §13). */
export const WaitingApprovals = z.looseObject({
  approvals: z.array(
    z.looseObject({
      approval_id: z.string(),
      task_id: z.string(),
      attempt: z.int(),
      /** The agent that asked. */
      agent_id: z.string(),
      command: z.string(),
      rule: z.string(),
      deadline: Iso,
    }),
  ),
});
export type WaitingApprovals = z.infer<typeof WaitingApprovals>;

/** `sheri flows`: each flow as `flows/update` says it (PROTOCOL §17.2). */
export const FlowList = z.looseObject({ flows: z.array(FlowUpdate) });
export type FlowList = z.infer<typeof FlowList>;

/** `sheri flow show`: the flow with each step's details (tasks/flow-queries.ts builds it). */
export const FlowDetail = z.looseObject({
  flow_id: z.string(),
  name: z.string(),
  state: z.enum(FLOW_STATES),
  created_at: Iso,
  finished_at: Iso.nullable(),
  error: z.string().nullable(),
  file: z.string().nullable(),
  vars: z.record(z.string(), z.string()),
  submitted_by: z.string(),
  schedule: z.string().nullable(),
  steps: z.array(
    StepView.extend({
      agent_role: z.string().nullable(),
      roles: z.array(z.string()),
      duration_ms: z.number().nullable(),
      needs: z.array(z.string()),
      on_failure: z.string().nullable(),
      note: z.string().nullable(),
      outputs: z.record(z.string(), z.string()),
      output: z.string().nullable(),
    }),
  ),
});
export type FlowDetail = z.infer<typeof FlowDetail>;

export const FlowCanceled = z.looseObject({ flow_id: z.string(), canceled: z.int().min(0) });

/** `sheri schedules`: each schedule, when it runs next and what its last run became. */
export const ScheduleList = z.looseObject({
  now: Iso,
  schedules: z.array(
    z.looseObject({
      name: z.string(),
      source: z.string(),
      timing: z.string(),
      runs: z.string(),
      next_run: Iso.nullable(),
      last_slot: Iso.nullable(),
      last_run: z.string().nullable(),
      last_state: z.string().nullable(),
      skipped: z.int().min(0),
    }),
  ),
});
export type ScheduleList = z.infer<typeof ScheduleList>;

export const Unscheduled = z.looseObject({ name: z.string(), removed: z.boolean() });

/** The schema of a reply's `data`, by the query's kind. */
export const REPLY_DATA = {
  tasks: TaskList,
  task: TaskDetail,
  agents: AgentList,
  prune: PruneResult,
  approvals: WaitingApprovals,
  flows: FlowList,
  flow: FlowDetail,
  cancel_flow: FlowCanceled,
  schedules: ScheduleList,
  unschedule: Unscheduled,
} as const satisfies Record<HubQuery['kind'], z.ZodType>;

export type ReplyData<K extends HubQuery['kind']> = z.output<(typeof REPLY_DATA)[K]>;
