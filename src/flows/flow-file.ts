import { z } from 'zod';
import { FlowName, StepName } from '../protocol/flow-messages.js';
import { Priority } from '../protocol/messages.js';
import { HTTP_CHECK_SHAPE, NAME_PATTERN, SERVICE_SHAPE } from '../protocol/step-specs.js';

/**
 * A flow file as people write it (YAML, or JSON, which YAML reads too): strict, so a misspelt
 * key is named with its line instead of being ignored. `toSubmit` (load-flow.ts) turns it into
 * the wire form (PROTOCOL §17.1).
 */

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `30s`, `5m`, `2h`, `1d`, or a number of milliseconds. */
export const Duration = z
  .union([
    z.int().min(0),
    z.string().regex(/^\d+(ms|s|m|h|d)$/, 'must be a duration like 500ms, 30s, 5m, 2h or 1d'),
  ])
  .transform((value) =>
    typeof value === 'number'
      ? value
      : Number.parseInt(value, 10) * UNITS[/[a-z]+$/.exec(value)![0]]!,
  );

const OneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

export const FileService = z.strictObject({
  name: SERVICE_SHAPE.name,
  command: SERVICE_SHAPE.command,
  ready_path: SERVICE_SHAPE.ready_path.optional(),
  ready_timeout: Duration.optional(),
});

export const FileHttpCheck = z.strictObject({
  url: HTTP_CHECK_SHAPE.url,
  expect_status: HTTP_CHECK_SHAPE.expect_status.optional(),
  expect_body: HTTP_CHECK_SHAPE.expect_body,
  attempts: HTTP_CHECK_SHAPE.attempts.optional(),
  interval: Duration.optional(),
  timeout: Duration.optional(),
});

export const FileStep = z.strictObject({
  type: z.string().min(1).max(100),
  description: z.string().max(2_000).optional(),
  commands: OneOrMany.optional(),
  prompt: z.string().min(1).max(100_000).optional(),
  service: FileService.optional(),
  http_check: FileHttpCheck.optional(),
  needs: z.union([StepName, z.array(StepName)]).optional(),
  on_failure: StepName.optional(),
  /** Per command. */
  timeout: Duration.optional(),
  retries: z.int().min(0).max(99).optional(),
  priority: Priority.optional(),
  payload: z.record(z.string(), z.unknown()).optional(),
  workspace: z.string().min(1).max(4096).optional(),
});
export type FileStep = z.infer<typeof FileStep>;

export const FileSchedule = z
  .strictObject({
    cron: z.string().min(1).max(200).optional(),
    every: Duration.optional(),
    timezone: z.string().min(1).max(100).optional(),
    missed: z.enum(['latest', 'skip']).optional(),
  })
  .refine((timing) => (timing.cron === undefined) !== (timing.every === undefined), {
    message: 'give either cron or every, not both and not neither',
  });

const VarName = z
  .string()
  .regex(NAME_PATTERN, 'must be a letter or "_", then letters, digits, "_" or "-"');

export const FlowFile = z.strictObject({
  name: FlowName,
  description: z.string().max(2_000).optional(),
  /** Variables and their defaults; `null` (or `~`) means it must be given with --var. */
  vars: z.record(VarName, z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  schedule: FileSchedule.optional(),
  priority: Priority.optional(),
  steps: z
    .record(StepName, FileStep)
    .refine((steps) => Object.keys(steps).length > 0, 'a flow needs at least one step')
    .refine((steps) => Object.keys(steps).length <= 100, 'a flow has at most 100 steps'),
});
export type FlowFile = z.infer<typeof FlowFile>;
