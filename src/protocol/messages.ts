import { z } from 'zod';
import { HttpCheckSpec, ServiceSpec } from './step-specs.js';
import { MAX_CONCURRENCY, MAX_LISTED_TASKS } from './limits.js';

/**
 * zod is the single source of truth for every message on the bus (docs/PROTOCOL.md).
 * Objects are loose: unknown extra fields are kept, never rejected (SPEC §2).
 */

export const Id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^\s/+#]+$/, 'must not contain spaces, "/", "+" or "#"')
  .refine((id) => !id.includes('\0'), 'must not contain NUL');

const IsoTimestamp = z
  .string()
  .max(64)
  .refine((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO 8601 timestamp');

export const Priority = z
  .enum(['low', 'normal', 'medium', 'high'])
  // The origin's "medium" is our "normal".
  .transform((value) => (value === 'medium' ? 'normal' : value));
export type Priority = 'low' | 'normal' | 'high';

export const Metadata = z.looseObject({
  priority: Priority.optional(),
  retry_count: z.int().min(0).optional(),
  ttl: z.number().min(0).optional(),
});

export const Envelope = z.looseObject({
  id: z.string().min(1).max(200),
  timestamp: IsoTimestamp,
  agent_id: z.string().min(1).max(200),
  role: z.string().max(100).optional(),
  type: z.string().max(200).optional(),
  payload: z.unknown(),
  metadata: Metadata.optional(),
});
export type Envelope = z.infer<typeof Envelope>;

/** Delegations below a task people submitted, at the most, whatever an agent's own limit. */
export const MAX_TASK_DEPTH = 100;

export const TaskSpec = z
  .looseObject({
    task_id: Id,
    type: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9_.-]+$/, 'must be letters, digits, ".", "_" or "-"'),
    payload: z.record(z.string(), z.unknown()).default({}),
    priority: Priority.optional(),
    prompt: z.string().min(1).max(100_000).optional(),
    commands: z.array(z.string().min(1).max(10_000)).min(1).max(100).optional(),
    needs: z.array(Id).max(100).optional(),
    idempotency_key: z.string().min(1).max(200).optional(),
    max_attempts: z.int().min(1).max(100).optional(),
    timeout_ms: z.int().min(1).max(86_400_000).optional(),
    workspace: z.string().min(1).max(4096).optional(),
    parent_task_id: Id.optional(),
    /** How many delegations deep this task is: 0 for a task people submit; the hub sets it. */
    depth: z.int().min(0).max(MAX_TASK_DEPTH).optional(),
    /** A service the agent starts after `commands` and keeps running (PROTOCOL §17.4). */
    service: ServiceSpec.optional(),
    /** An HTTP check the agent makes itself, instead of commands (PROTOCOL §17.4). */
    http_check: HttpCheckSpec.optional(),
    /** The flow and step this task is (PROTOCOL §17.2); set by the hub, never by submitters. */
    flow_id: Id.optional(),
    flow_step: z.string().min(1).max(64).optional(),
  })
  .refine((task) => !task.needs?.includes(task.task_id), {
    message: 'a task cannot need itself',
    path: ['needs'],
  })
  .refine((task) => !(task.http_check && (task.commands || task.prompt || task.service)), {
    message: 'an http_check task carries neither commands, prompt nor service',
    path: ['http_check'],
  })
  .refine((task) => !(task.service && task.prompt), {
    message: 'a service task runs commands, not a prompt',
    path: ['service'],
  });
export type TaskSpec = z.infer<typeof TaskSpec>;

const TaskRef = z.looseObject({
  task_id: Id,
  attempt: z.int().min(1),
  /** In heartbeats: what a running prompt task has cost so far (PROTOCOL §14.5). */
  cost_usd: z.number().min(0).optional(),
});
export type TaskRef = z.infer<typeof TaskRef>;

/** One result the hub confirms it recorded (PROTOCOL §4.8). */
const SettledRef = z.looseObject({ task_id: Id, attempt: z.int().min(1) });

/**
 * Confirmations a grant carries at most (PROTOCOL §4.8): a few refs, so the grant stays within
 * the room its inputs were fitted to (Scheduler.inputsOf keeps 8 KiB spare); more go on
 * `tasks/settled/<agent>`.
 */
export const SETTLED_IN_GRANT = 16;

const Free = z.int().min(0).max(MAX_CONCURRENCY);
const Running = z.array(TaskRef).max(MAX_CONCURRENCY);

/**
 * An outcome or release may carry the agent's capacity right after it (PROTOCOL §3.2): the hub
 * then takes it as a claim, so finishing a task and asking for the next is one message.
 */
const CapacityAfter = {
  free: Free.optional(),
  running: Running.optional(),
};

/** Agent → hub: "I have `free` slots; these are the attempts I am running." */
export const ClaimRequest = z.looseObject({
  free: Free,
  running: Running.default([]),
  /** A task the agent saw and would like; a hint, the hub still decides. */
  task_id: Id.optional(),
});
export type ClaimRequest = z.infer<typeof ClaimRequest>;

/** Hub → agents: the grant of one attempt of one task to one agent. */
export const TaskAssigned = z.looseObject({
  task_id: Id,
  agent_id: z.string().min(1).max(200),
  attempt: z.int().min(1),
  lease_ms: z.int().min(1),
  lease_expires_at: IsoTimestamp,
  task: TaskSpec,
  /** Results of the tasks this one needs, by task id. */
  inputs: z.record(z.string(), z.unknown()).default({}),
  /** What the swarm budget leaves a prompt task, in US dollars (PROTOCOL §14.5). */
  max_cost_usd: z.number().min(0).optional(),
  /**
   * Results of this agent the hub has recorded, confirmed in the grant rather than in a
   * `tasks/settled/<agent>` of their own (PROTOCOL §4.8); only to an agent that registered with
   * `settled_in_grant`.
   */
  settled: z.array(SettledRef).min(1).max(SETTLED_IN_GRANT).optional(),
});
export type TaskAssigned = z.infer<typeof TaskAssigned>;

/** Agent → hub: an attempt handed back unrun or interrupted by a graceful stop. */
export const TaskRelease = z.looseObject({
  task_id: Id,
  attempt: z.int().min(1),
  reason: z.string().max(2000),
  /** true: the agent cannot run this task at all (e.g. its role's table lacks the type); counts as a failure, so a task no agent will take ends dead instead of circling. */
  refused: z.boolean().default(false),
  ...CapacityAfter,
});
export type TaskRelease = z.infer<typeof TaskRelease>;

/**
 * Hub → one agent (`tasks/settled/<agent>`): the outcomes and releases of these attempts are in
 * the ledger — applied, or judged stale — so the agent stops sending them again (PROTOCOL §4.8).
 * One message per agent per turn of the hub, listing every result of that agent it recorded.
 */
export const TaskSettled = z.looseObject({
  results: z.array(SettledRef).min(1).max(10_000),
});
export type TaskSettled = z.infer<typeof TaskSettled>;

export const TaskProgress = z.looseObject({
  task_id: Id,
  attempt: z.int().min(1),
  message: z.string().max(10_000),
  percent: z.number().min(0).max(100).optional(),
});
export type TaskProgress = z.infer<typeof TaskProgress>;

export const TaskComplete = z.looseObject({
  task_id: Id,
  attempt: z.int().min(1),
  duration_ms: z.number().min(0),
  result: z.unknown(),
  ...CapacityAfter,
});
export type TaskComplete = z.infer<typeof TaskComplete>;

export const TaskFailed = z.looseObject({
  task_id: Id,
  attempt: z.int().min(1),
  duration_ms: z.number().min(0),
  error: z.string().max(100_000),
  /** false: retrying cannot help (bad task, no provider); the hub dead-letters at once. */
  retryable: z.boolean().default(true),
  result: z.unknown().optional(),
  ...CapacityAfter,
});
export type TaskFailed = z.infer<typeof TaskFailed>;

export const TaskDead = z.looseObject({
  task_id: Id,
  attempts: z.int().min(0),
  error: z.string(),
});
export type TaskDead = z.infer<typeof TaskDead>;

const Memory = z.looseObject({ rss: z.number(), heapTotal: z.number(), heapUsed: z.number() });

/** How an agent's commands run (PROTOCOL §16): its OS sandbox, as it said at start. */
export const SandboxReport = z.looseObject({
  kind: z.enum(['bwrap', 'none']),
  network: z.boolean(),
  read_only: z.boolean(),
  cgroup: z.enum(['v1', 'v2', 'none']),
  /** Why there is none, or what it lacks. */
  note: z.string().max(2000).optional(),
});
export type SandboxReport = z.infer<typeof SandboxReport>;

export const AgentRegister = z.looseObject({
  role: z.string().min(1).max(100),
  concurrency: z.int().min(1).max(MAX_CONCURRENCY),
  types: z.array(z.string()).default([]),
  pid: z.int().optional(),
  hostname: z.string().optional(),
  version: z.string().optional(),
  /** Absent from agents older than the sandbox. */
  sandbox: SandboxReport.optional(),
  /**
   * true: the agent reads the confirmations a grant carries (`TaskAssigned.settled`, PROTOCOL
   * §4.8). Absent from older agents, which the hub confirms on `tasks/settled/<agent>` only.
   */
  settled_in_grant: z.boolean().optional(),
});
export type AgentRegister = z.infer<typeof AgentRegister>;

/** Tokens an LLM used and what they cost (PROTOCOL §14): per task in results, summed in heartbeats. */
export const Usage = z.looseObject({
  input_tokens: z.int().min(0),
  output_tokens: z.int().min(0),
  cache_creation_input_tokens: z.int().min(0).default(0),
  cache_read_input_tokens: z.int().min(0).default(0),
  cost_usd: z.number().min(0),
});
export type Usage = z.infer<typeof Usage>;

export const AgentHeartbeat = z.looseObject({
  status: z.string(),
  uptime: z.number().min(0),
  memory: Memory,
  role: z.string().min(1).max(100),
  running: Running.default([]),
  free: Free,
  /** Since the agent started, over every LLM task it ran; absent before its first. */
  usage: Usage.optional(),
  sandbox: SandboxReport.optional(),
});
export type AgentHeartbeat = z.infer<typeof AgentHeartbeat>;

export const AgentShutdown = z.looseObject({ reason: z.string().max(2000) });
export type AgentShutdown = z.infer<typeof AgentShutdown>;

/** Retained on `agents/<id>/status`; the Last Will clears it with an empty payload. */
export const AgentStatus = z.looseObject({
  state: z.enum(['online', 'draining']),
  role: z.string().min(1).max(100),
  since: IsoTimestamp,
});
export type AgentStatus = z.infer<typeof AgentStatus>;

/**
 * Retained on `hub/status`: "online" while the hub runs, "offline" (its Last Will, or its goodbye)
 * after. Never cleared, so a submitter can tell "hub restarting" (tasks wait in its session) from
 * "no hub ever ran here" (a task would reach no one).
 */
export const HubStatus = z.looseObject({
  state: z.enum(['online', 'offline']),
  /** Absent in the Last Will, which is written when the hub connects, not when it dies. */
  since: IsoTimestamp.optional(),
  reason: z.string().max(2000).optional(),
  /** The leadership of a hub on a shared ledger (PROTOCOL §2.2): higher is newer. */
  epoch: z.int().min(1).optional(),
});
export type HubStatus = z.infer<typeof HubStatus>;

export const ErrorReport = z.looseObject({
  code: z.string(),
  reason: z.string(),
  topic: z.string(),
  reporter: z.string(),
  message_id: z.string().optional(),
  sample: z.string().optional(),
  size: z.int().optional(),
});
export type ErrorReport = z.infer<typeof ErrorReport>;

export const HubQuery = z.looseObject({
  query_id: z.string().min(1).max(200),
  reply_to: z.string().min(1).max(500),
  kind: z.enum([
    'tasks',
    'task',
    'agents',
    'approvals',
    'prune',
    // PROTOCOL §17: flows and schedules; `cancel_flow` and `unschedule` change, as `prune` does.
    'flows',
    'flow',
    'cancel_flow',
    'schedules',
    'unschedule',
  ]),
  task_id: Id.optional(),
  flow_id: Id.optional(),
  /** `unschedule`: the schedule's name. */
  name: z.string().min(1).max(100).optional(),
  /** `cancel_flow`: why, recorded with the operator who asked. */
  reason: z.string().max(2_000).optional(),
  state: z.string().max(50).optional(),
  limit: z.int().min(1).max(MAX_LISTED_TASKS).optional(),
  /** `prune`: finished tasks not updated for this long go (PROTOCOL §15.5). */
  older_than_ms: z.int().min(0).optional(),
});
export type HubQuery = z.infer<typeof HubQuery>;

export const HubReply = z.looseObject({
  query_id: z.string(),
  ok: z.boolean(),
  data: z.unknown().optional(),
  error: z.string().optional(),
});
export type HubReply = z.infer<typeof HubReply>;

/** Agent → people: a command its role's policy says to ask about (PROTOCOL §13). */
export const ApprovalRequest = z.looseObject({
  approval_id: Id,
  task_id: Id,
  attempt: z.int().min(1),
  command: z.string().max(10_000),
  rule: z.string().max(2_000),
  reason: z.string().max(2_000),
  deadline: IsoTimestamp,
});
export type ApprovalRequest = z.infer<typeof ApprovalRequest>;

/** The hub → the asking agent, on `approvals/<id>/decision`: an operator's verified answer. */
export const ApprovalDecision = z.looseObject({
  approval_id: Id,
  approved: z.boolean(),
  reason: z.string().max(2_000).optional(),
  /** The operator who answered, as the hub verified it (recorded in the task's history). */
  approver: z.string().max(200).optional(),
});
export type ApprovalDecision = z.infer<typeof ApprovalDecision>;

/** An operator → the hub, on `approvals/answer`: the hub checks and forwards it (PROTOCOL §13). */
export const ApprovalAnswer = z.looseObject({
  approval_id: Id,
  approved: z.boolean(),
  reason: z.string().max(2_000).optional(),
});
export type ApprovalAnswer = z.infer<typeof ApprovalAnswer>;

/**
 * The hub → the agent that delegated a subtask, on `tasks/delegated/<agent>` (PROTOCOL §14.3):
 * its outcome, or why the hub refused it.
 */
export const DelegatedOutcome = z.looseObject({
  task_id: Id,
  parent_task_id: Id.optional(),
  state: z.enum(['complete', 'dead', 'rejected']),
  agent_id: z.string().max(200).optional(),
  duration_ms: z.number().min(0).optional(),
  attempts: z.int().min(0).optional(),
  result: z.unknown().optional(),
  error: z.string().max(100_000).optional(),
  code: z.string().max(100).optional(),
  message_id: z.string().max(200).optional(),
});
export type DelegatedOutcome = z.infer<typeof DelegatedOutcome>;

/** The budget as `sheri agents`, the dashboard and the retained `hub/budget` show it. */
export const BudgetStatus = z.looseObject({
  day: z.string(),
  daily_usd: z.number().nullable(),
  /** Recorded results of the day, plus what running tasks reported in heartbeats. */
  spent_today_usd: z.number(),
  running_usd: z.number(),
  flow_usd: z.number().nullable(),
  /** Prompt tasks refused since the hub started, for want of budget. */
  refused: z.int().min(0),
});
export type BudgetStatus = z.infer<typeof BudgetStatus>;
