import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import { FlowFileError, parseFlow } from '../flows/load-flow.js';
import { formatIssues } from '../protocol/codec.js';
import type { ScheduleTiming } from '../protocol/flow-messages.js';
import { TaskSpec } from '../protocol/messages.js';
import { rolesForType } from '../protocol/task-types.js';
import { cronProblem } from './schedule-slots.js';
import { omitKeys } from '../util/omit-keys.js';
import { readSettingsFile } from '../util/settings-file.js';
import type { ScheduleTarget } from './schedules.js';

/** A scheduled flow file is read whole when the hub starts; no flow needs a mebibyte of YAML. */
const MAX_FLOW_FILE_BYTES = 1024 * 1024;

/**
 * The config file's `schedules`, checked when the hub starts (PROTOCOL §17.7): a task must be a
 * valid task of a known type, a flow file must load, a cron expression must parse. A mistake
 * stops the hub with exit 4, naming the schedule — not a schedule that fails every slot.
 */
export function scheduleEntriesOf(
  config: Config,
): { name: string; timing: ScheduleTiming; target: ScheduleTarget }[] {
  return Object.entries(config.schedules).map(([name, entry]) => {
    const where = `schedules.${name}`;
    const fail = (message: string): never => {
      throw new SheriError(
        `config file ${config.configFile ?? ''}: ${where}: ${message}`,
        EXIT.config,
      );
    };
    const timing: ScheduleTiming = {
      ...(entry.cron ? { cron: entry.cron } : {}),
      ...(entry.every !== undefined ? { every_ms: entry.every } : {}),
      ...(entry.timezone ? { timezone: entry.timezone } : {}),
      missed: entry.missed ?? 'latest',
    };
    if (entry.cron) {
      const problem = cronProblem(entry.cron, entry.timezone);
      if (problem) fail(problem);
    }
    if (entry.task) {
      const parsed = TaskSpec.safeParse({ ...entry.task, task_id: `${name}.check` });
      if (!parsed.success) fail(`task: ${formatIssues(parsed.error)}`);
      const task = omitKeys(parsed.data!, 'task_id');
      if (rolesForType(config.taskTypes, parsed.data!.type).length === 0) {
        fail(`task: unknown task type "${parsed.data!.type}"`);
      }
      return { name, timing, target: { task } };
    }
    let text: string;
    try {
      text = readSettingsFile(entry.flow!, MAX_FLOW_FILE_BYTES);
    } catch (error) {
      return fail(`flow file ${entry.flow!}: cannot read it: ${(error as Error).message}`);
    }
    try {
      const flow = parseFlow(text, entry.flow!, {
        vars: entry.vars ?? {},
        taskTypes: config.taskTypes,
      });
      return { name, timing, target: { flow: { ...flow, name } } };
    } catch (error) {
      if (error instanceof FlowFileError) return fail(error.message);
      throw error;
    }
  });
}
