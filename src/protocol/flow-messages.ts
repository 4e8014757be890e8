import { z } from 'zod';
import { Id, Priority } from './messages.js';
import { HttpCheckSpec, NAME_PATTERN, ServiceSpec } from './step-specs.js';

/**
 * Flows on the wire (PROTOCOL §17): an operator submits one as a whole on `flows/new`; the hub
 * records it, runs its steps as tasks and says how it goes on `flows/update`.
 */

/** A flow's name: the first part of its id and of its steps' task ids, so it is kept short. */
export const FlowName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/, 'must be 1-40 letters, digits, ".", "_" or "-"');

/** `<name>-<8 hex>` for a run, `<name>.<slot>` for a scheduled one; ≤ 60, so task ids fit 128. */
export const FlowId = z
  .string()
  .min(1)
  .max(60)
  .regex(/^[^\s/+#\0]+$/, 'must not contain spaces, "/", "+", "#" or NUL');

export const StepName = z
  .string()
  .regex(NAME_PATTERN, 'must be a letter or "_", then up to 63 letters, digits, "_" or "-"');

export const FlowStep = z.looseObject({
  id: StepName,
  type: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9_.-]+$/),
  prompt: z.string().min(1).max(100_000).optional(),
  commands: z.array(z.string().min(1).max(10_000)).min(1).max(100).optional(),
  service: ServiceSpec.optional(),
  http_check: HttpCheckSpec.optional(),
  payload: z.record(z.string(), z.unknown()).default({}),
  needs: z.array(StepName).max(100).default([]),
  /** A step run only when this one is dead (a rollback). */
  on_failure: StepName.optional(),
  /** Per command (`timeout_ms` of its task). */
  timeout_ms: z.int().min(1).max(86_400_000).optional(),
  /** Attempts after the first: its task's `max_attempts` is `retries + 1`. */
  retries: z.int().min(0).max(99).optional(),
  priority: Priority.optional(),
  workspace: z.string().min(1).max(4096).optional(),
});
export type FlowStep = z.infer<typeof FlowStep>;

/** When a recurring flow or task runs (PROTOCOL §17.7): a cron expression or an interval. */
export const ScheduleTiming = z
  .looseObject({
    cron: z.string().min(1).max(200).optional(),
    every_ms: z
      .int()
      .min(1_000)
      .max(366 * 86_400_000)
      .optional(),
    timezone: z.string().min(1).max(100).optional(),
    /** Slots that passed while the hub was not running: run the latest once, or none. */
    missed: z.enum(['latest', 'skip']).default('latest'),
  })
  .refine((timing) => (timing.cron === undefined) !== (timing.every_ms === undefined), {
    message: 'give either cron or every, not both and not neither',
  });
export type ScheduleTiming = z.infer<typeof ScheduleTiming>;

export const FlowSubmit = z.looseObject({
  flow_id: FlowId,
  name: FlowName,
  /** The file it was read from, as the submitter named it (for people; never read by the hub). */
  file: z.string().max(4096).optional(),
  /** Every variable the steps may use, defaults already merged with `--var`. */
  vars: z.record(z.string(), z.string().max(10_000)).default({}),
  steps: z.array(FlowStep).min(1).max(100),
  /** A recurring flow: the hub records it as a schedule and runs it each slot. */
  schedule: ScheduleTiming.optional(),
  priority: Priority.optional(),
});
export type FlowSubmit = z.infer<typeof FlowSubmit>;

/** A flow as read from its file: everything but the id of one run of it. */
export const FlowDefinition = FlowSubmit.omit({ flow_id: true });
export type FlowDefinition = z.infer<typeof FlowDefinition>;

export const FLOW_STATES = ['running', 'succeeded', 'failed', 'canceled'] as const;
export type FlowState = (typeof FLOW_STATES)[number];

/** A step as people see it: its task's state, or why it has none. */
export const STEP_STATES = [
  'waiting',
  'queued',
  'running',
  'complete',
  'failed',
  'skipped',
  'canceled',
] as const;
export type StepState = (typeof STEP_STATES)[number];

export const StepView = z.looseObject({
  id: z.string(),
  type: z.string(),
  state: z.enum(STEP_STATES),
  task_id: z.string().nullable(),
  agent_id: z.string().nullable(),
  attempt: z.int().min(0),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
});
export type StepView = z.infer<typeof StepView>;

/** Hub → everyone who watches, on every change of a flow or one of its steps. */
export const FlowUpdate = z.looseObject({
  flow_id: z.string(),
  name: z.string(),
  state: z.enum(FLOW_STATES),
  steps: z.array(StepView),
  created_at: z.string(),
  finished_at: z.string().nullable(),
  /** Why it failed or was canceled, in one line. */
  error: z.string().nullable(),
});
export type FlowUpdate = z.infer<typeof FlowUpdate>;

/** Hub → the agent running an attempt that no longer counts: stop it (PROTOCOL §17.3). */
export const TaskCancel = z.looseObject({
  task_id: Id,
  attempt: z.int().min(1),
  reason: z.string().max(2_000),
});
export type TaskCancel = z.infer<typeof TaskCancel>;
