import { randomUUID } from 'node:crypto';
import { EXIT, SheriError } from '../errors.js';
import { formatIssues } from '../protocol/codec.js';
import { TaskSpec, type HubStatus } from '../protocol/messages.js';
import { rolesForType } from '../protocol/task-types.js';
import { TOPIC } from '../protocol/topics.js';
import { queryHub, readHubStatus } from './hub-client.js';
import { SubmitConfirmation, type Confirmation } from './submit-confirm.js';
import { TaskWatcher, type WatchOptions } from './task-watcher.js';
import type { Bus } from '../transport/bus.js';
import type { Config } from '../config/load.js';
import { didYouMean } from './suggest.js';
import { visible } from '../util/text.js';
import {
  connectCli,
  makeConfig,
  makeLogger,
  printJson,
  shortId,
  type GlobalFlags,
} from './common.js';

interface SubmitFlags extends GlobalFlags {
  type: string;
  prompt?: string;
  command?: string[];
  priority: string;
  payload?: string;
  needs?: string;
  taskId?: string;
  idempotencyKey?: string;
  maxAttempts?: number;
  timeout?: number;
  workspace?: string;
  wait?: boolean;
  waitTimeout?: number;
  hubCheck?: boolean;
  confirm?: boolean;
  allowUnknownNeeds?: boolean;
}

export function buildTaskSpec(
  flags: SubmitFlags,
  config: {
    taskTypes: Readonly<Record<string, readonly string[]>>;
    runbooks?: Readonly<Record<string, readonly string[]>>;
  },
): TaskSpec {
  if (rolesForType(config.taskTypes, flags.type).length === 0) {
    const known = Object.keys(config.taskTypes);
    throw new SheriError(
      `unknown task type "${flags.type}"${didYouMean(flags.type, known)}; known types: ${known.join(', ')} (sheri types; add one under "taskTypes" in sheri.config.json)`,
    );
  }
  const commands = flags.command ?? [];
  // What an agent could not run is refused here, not dead-lettered later (execute-task.ts).
  if (commands.length > 0 && flags.prompt) {
    throw new SheriError(
      '--command and --prompt are two ways to run a task, and a task with commands never reaches a model: give one of them',
    );
  }
  if (commands.length === 0 && !flags.prompt && !config.runbooks?.[flags.type]?.length) {
    throw new SheriError(
      `a ${flags.type} task needs --command or --prompt: the type has no runbook in this config (add "runbooks": { "${flags.type}": ["…"] } to sheri.config.json; sheri types lists the runbooks)`,
    );
  }
  let payload: unknown = {};
  if (flags.payload !== undefined) {
    try {
      payload = JSON.parse(flags.payload);
    } catch (error) {
      throw new SheriError(`--payload is not JSON: ${(error as Error).message}`);
    }
  }
  const candidate = {
    task_id: flags.taskId ?? `${flags.type}-${shortId()}${shortId()}`,
    type: flags.type,
    payload,
    priority: flags.priority,
    ...(flags.prompt ? { prompt: flags.prompt } : {}),
    ...(commands.length > 0 ? { commands } : {}),
    ...(flags.needs
      ? {
          needs: flags.needs
            .split(',')
            .map((id) => id.trim())
            .filter(Boolean),
        }
      : {}),
    ...(flags.idempotencyKey ? { idempotency_key: flags.idempotencyKey } : {}),
    ...(flags.maxAttempts !== undefined ? { max_attempts: flags.maxAttempts } : {}),
    ...(flags.timeout !== undefined ? { timeout_ms: flags.timeout } : {}),
    ...(flags.workspace ? { workspace: flags.workspace } : {}),
  };
  const parsed = TaskSpec.safeParse(candidate);
  if (!parsed.success) throw new SheriError(`invalid task: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

/** A task published where no hub has ever run reaches no one: refuse, saying how to fix it. */
async function checkHub(bus: Bus, config: { swarm: string; broker: string }): Promise<HubStatus> {
  const status = await readHubStatus(bus);
  if (!status) {
    throw new SheriError(
      `no hub has run on swarm "${config.swarm}" at ${config.broker}, so a task published now would reach no one — start one with \`sheri up\` or \`sheri hub\` (or pass --no-hub-check)`,
      EXIT.unavailable,
    );
  }
  if (status.state === 'offline') {
    process.stderr.write(
      `warning: the hub of swarm "${config.swarm}" is offline${status.since ? ` since ${status.since}` : ''}${status.reason ? ` (${status.reason})` : ''}; the task waits for it in its session\n`,
    );
  }
  return status;
}

export async function submitTask(flags: SubmitFlags): Promise<void> {
  const config = makeConfig(flags);
  const spec = buildTaskSpec(flags, config);
  const logger = makeLogger(flags);
  const bus = await connectCli(config, logger);
  try {
    const hubStatus = flags.hubCheck !== false ? await checkHub(bus, config) : undefined;
    if (spec.needs?.length && !flags.allowUnknownNeeds) await checkNeeds(bus, config, spec.needs);
    if (!flags.wait) {
      const code = await submitAndConfirm(bus, spec, config, {
        confirm: flags.confirm !== false,
        hubStatus,
        json: Boolean(flags.json),
      });
      if (code !== EXIT.ok) process.exitCode = code;
      return;
    }
    const code = await submitAndWait(bus, spec, {
      swarm: config.swarm,
      json: Boolean(flags.json),
      roles: rolesForType(config.taskTypes, spec.type),
      ...(flags.waitTimeout ? { waitTimeoutS: flags.waitTimeout } : {}),
      noticeMs: config.waitNoticeMs,
      ...(hubStatus ? { hubStatus } : {}),
      ask: (query) => queryHub(bus, config, query),
    });
    if (code !== EXIT.ok) process.exitCode = code;
  } finally {
    await bus.close();
  }
}

/** `--needs` naming a task the hub never recorded: a typo waits for ever, so it is refused. */
async function checkNeeds(bus: Bus, config: Config, needs: readonly string[]): Promise<void> {
  const unknown: string[] = [];
  for (const need of needs) {
    try {
      await queryHub(bus, config, { kind: 'task', task_id: need });
    } catch (error) {
      if (!(error instanceof SheriError) || error.exitCode !== EXIT.usage) {
        throw new SheriError(
          `cannot check --needs: ${(error as Error).message} (--allow-unknown-needs submits without checking)`,
          EXIT.unavailable,
          { cause: error },
        );
      }
      unknown.push(need);
    }
  }
  if (unknown.length > 0) {
    throw new SheriError(
      `--needs names ${unknown.map((id) => `"${id}"`).join(', ')}, which the hub has no record of: this task would wait for ${unknown.length === 1 ? 'it' : 'them'} for ever (sheri tasks lists the ids; --allow-unknown-needs if ${unknown.length === 1 ? 'it comes' : 'they come'} later)`,
      EXIT.usage,
    );
  }
}

/**
 * Without `--wait`: publish, then wait (up to `queryTimeoutMs`) for the hub to confirm it recorded
 * the task (submit-confirm.ts) — "recorded" only then; "published" when the broker has it but the
 * hub has not said so (offline, silent, or unable to record, PROTOCOL §3.9). The task id goes to
 * stdout whenever the task exists (the existing one for a duplicate); a refusal exits 2.
 */
async function submitAndConfirm(
  bus: Bus,
  spec: TaskSpec,
  config: Config,
  options: { confirm: boolean; hubStatus: HubStatus | undefined; json: boolean },
): Promise<number> {
  const messageId = randomUUID();
  const offline = options.hubStatus?.state === 'offline';
  const listening =
    options.confirm && !offline ? await SubmitConfirmation.listen(bus, messageId) : undefined;
  await bus.publish(TOPIC.tasksNew, spec, { type: spec.type, id: messageId });
  const what = `${spec.task_id} (${spec.type}, ${spec.priority ?? 'normal'})`;
  const outcome: Confirmation | undefined = listening
    ? await listening.wait(
        spec,
        (taskId, waitMs) =>
          queryHub(
            bus,
            { ...config, queryTimeoutMs: Math.max(1, waitMs) },
            { kind: 'task', task_id: taskId },
          ),
        config.queryTimeoutMs,
      )
    : offline
      ? { kind: 'unconfirmed', reason: 'the hub is offline; it records the task when it is back' }
      : undefined;
  const printId = (taskId: string): void => {
    if (options.json) printJson(taskId === spec.task_id ? spec : { task_id: taskId });
    else process.stdout.write(`${taskId}\n`);
  };
  if (!outcome) {
    process.stderr.write(`published ${what} to swarm ${config.swarm}\n`);
    printId(spec.task_id);
    return EXIT.ok;
  }
  switch (outcome.kind) {
    case 'recorded':
      process.stderr.write(`recorded ${what} in swarm ${config.swarm}: ${outcome.state}\n`);
      printId(spec.task_id);
      return EXIT.ok;
    case 'duplicate':
      process.stderr.write(visible(`${outcome.reason} (sheri task show ${outcome.taskId})\n`));
      printId(outcome.taskId);
      return EXIT.ok;
    case 'rejected':
      process.stderr.write(visible(`${outcome.reason}\n`));
      return EXIT.usage;
    case 'unconfirmed':
      process.stderr.write(
        visible(
          `published ${what} to swarm ${config.swarm}, not confirmed: ${outcome.reason} (the broker keeps it for the hub; sheri task show ${spec.task_id})\n`,
        ),
      );
      printId(spec.task_id);
      return EXIT.ok;
  }
}

/**
 * `--wait`: listen first, then publish, then wait for the outcome — which counts even when it
 * arrives before the broker acknowledged the publish (task-watcher.ts). Resolves with the exit
 * code.
 */
export async function submitAndWait(
  bus: Bus,
  spec: TaskSpec,
  options: WatchOptions & { swarm: string },
): Promise<number> {
  const messageId = randomUUID();
  const watcher = await TaskWatcher.start(bus, spec.task_id, messageId, options);
  await bus.publish(TOPIC.tasksNew, spec, { type: spec.type, id: messageId });
  // "published": the broker has it, not yet the ledger. The hub's own word that it recorded the
  // task comes next — its grant ("assigned to …") or its answer to the wait notice's query —
  // since neither is sent before the ledger holds the task (PROTOCOL §3.8, §3.9).
  (options.err ?? ((text: string) => process.stderr.write(text)))(
    `published ${spec.task_id} (${spec.type}, ${spec.priority ?? 'normal'}) to swarm ${options.swarm}\n`,
  );
  return watcher.outcome();
}
