import { z } from 'zod';
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

/** The schema of a reply's `data`, by the query's kind. */
export const REPLY_DATA = {
  tasks: TaskList,
  task: TaskDetail,
  agents: AgentList,
  prune: PruneResult,
} as const satisfies Record<HubQuery['kind'], z.ZodType>;

export type ReplyData<K extends HubQuery['kind']> = z.output<(typeof REPLY_DATA)[K]>;
