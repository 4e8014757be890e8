import { z } from 'zod';
import { FlowName } from '../protocol/flow-messages.js';
import { Duration } from './flow-file.js';

/**
 * `schedules` in the hub's config file (PROTOCOL §17.7): each runs a task or a flow file, on a
 * cron expression or an interval.
 *
 * ```json
 * "schedules": {
 *   "health": { "every": "5m", "task": { "type": "monitoring.health",
 *               "http_check": { "url": "http://127.0.0.1:8080/health" } } },
 *   "nightly": { "cron": "0 3 * * *", "timezone": "Europe/Paris", "flow": "deploy-flow.yaml" }
 * }
 * ```
 */
export const ScheduleFileEntry = z
  .strictObject({
    cron: z.string().min(1).max(200).optional(),
    every: Duration.optional(),
    timezone: z.string().min(1).max(100).optional(),
    missed: z.enum(['latest', 'skip']).optional(),
    /** A task's fields but `task_id` (each slot's id is `<name>.<slot>`). */
    task: z.record(z.string(), z.unknown()).optional(),
    /** A flow file, relative to the config file. */
    flow: z.string().min(1).max(4096).optional(),
    /** The flow's `--var`s. */
    vars: z.record(z.string(), z.string()).optional(),
  })
  .refine((entry) => (entry.cron === undefined) !== (entry.every === undefined), {
    message: 'give either cron or every, not both and not neither',
  })
  .refine((entry) => (entry.task === undefined) !== (entry.flow === undefined), {
    message: 'give either task or flow, not both and not neither',
  })
  .refine((entry) => entry.every === undefined || entry.every >= 1_000, {
    message: 'every must be at least 1s',
    path: ['every'],
  });
export type ScheduleFileEntry = z.infer<typeof ScheduleFileEntry>;

export const ScheduleFileSettings = z.record(FlowName, ScheduleFileEntry);
export type ScheduleFileSettings = z.infer<typeof ScheduleFileSettings>;
