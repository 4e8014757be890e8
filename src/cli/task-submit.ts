import type { Command } from 'commander';
import { EXIT, SheriError } from '../errors.js';
import { decodeMessage, formatIssues } from '../protocol/codec.js';
import {
  ErrorReport,
  TaskAssigned,
  TaskComplete,
  TaskDead,
  TaskFailed,
  TaskProgress,
  TaskSpec,
} from '../protocol/messages.js';
import { rolesForType } from '../protocol/task-types.js';
import { TOPIC } from '../protocol/topics.js';
import { readHubStatus } from './hub-client.js';
import type { Bus } from '../transport/bus.js';
import {
  addSwarmOptions,
  connectCli,
  makeConfig,
  makeLogger,
  parsePositiveInt,
  printJson,
  shortId,
  type GlobalFlags,
} from './common.js';

interface SubmitFlags extends GlobalFlags {
  type: string;
  prompt?: string;
  command: string[];
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
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerTaskSubmit(task: Command): void {
  addSwarmOptions(
    task
      .command('submit')
      .description('publish a task on <swarm>/tasks/new; with --wait, follow it to its outcome')
      .requiredOption(
        '--type <type>',
        'task type, e.g. testing.run, deployment.deploy, code.review',
      )
      .option(
        '--command <cmd>',
        'shell command to run (repeat for several, run in order)',
        collect,
        [],
      )
      .option('--prompt <text>', 'instructions for an LLM-driven agent')
      .option('--priority <p>', 'low, normal or high', 'normal')
      .option('--payload <json>', 'free-form JSON inputs for the task', undefined)
      .option('--needs <ids>', 'comma-separated task ids that must complete first')
      .option('--task-id <id>', 'task id (default <type>-<random>)')
      .option('--idempotency-key <key>', 'resubmitting with the same key is a no-op')
      .option(
        '--max-attempts <n>',
        'failed attempts before the task is dead',
        parsePositiveInt('--max-attempts'),
      )
      .option('--timeout <ms>', 'hard limit of each command, in ms', parsePositiveInt('--timeout'))
      .option('--workspace <dir>', "sub-directory of the agent's workspace to run in")
      .option('--wait', 'stream progress and exit 0 when the task completes, 1 when it is dead')
      .option(
        '--wait-timeout <s>',
        'with --wait: give up after this many seconds (exit 3)',
        parsePositiveInt('--wait-timeout'),
      )
      .option('--json', 'print the task (or, with --wait, its outcome) as JSON')
      .option('--no-hub-check', 'publish even if no hub has ever run on this swarm')
      .addHelpText(
        'after',
        `
Examples:
  sheri task submit --type testing.run --command "npm test" --wait
  sheri task submit --type deployment.deploy --priority high --command "npm run build" --command "npm run deploy"
  sheri task submit --type code.review --prompt "Review the last commit" --needs testing.run-1a2b3c`,
      ),
  ).action(async (flags: SubmitFlags) => submitTask(flags));
}

export function buildTaskSpec(
  flags: SubmitFlags,
  config: { taskTypes: Readonly<Record<string, readonly string[]>> },
): TaskSpec {
  if (rolesForType(config.taskTypes, flags.type).length === 0) {
    throw new SheriError(
      `unknown task type "${flags.type}"; known types: ${Object.keys(config.taskTypes).join(', ')} (add one under "taskTypes" in sheri.config.json)`,
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
    ...(flags.command.length > 0 ? { commands: flags.command } : {}),
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
async function checkHub(bus: Bus, config: { swarm: string; broker: string }): Promise<void> {
  const status = await readHubStatus(bus);
  if (!status) {
    throw new SheriError(
      `no hub has run on swarm "${config.swarm}" at ${config.broker}, so a task published now would reach no one — start one with \`sheri up\` or \`sheri hub\` (or pass --no-hub-check)`,
      EXIT.unavailable,
    );
  }
  if (status.state === 'offline') {
    process.stderr.write(
      `warning: the hub of swarm "${config.swarm}" is offline since ${status.since}; the task waits for it in its session\n`,
    );
  }
}

async function submitTask(flags: SubmitFlags): Promise<void> {
  const config = makeConfig(flags);
  const spec = buildTaskSpec(flags, config);
  const logger = makeLogger(flags);
  const bus = await connectCli(config, logger);
  try {
    if (flags.hubCheck !== false) await checkHub(bus, config);
    const watch = flags.wait ? await watchTask(bus, spec, flags) : undefined;
    const messageId = await bus.publish(TOPIC.tasksNew, spec, { type: spec.type });
    if (!watch) {
      if (flags.json) printJson(spec);
      else process.stdout.write(`${spec.task_id}\n`);
      return;
    }
    process.stderr.write(
      `submitted ${spec.task_id} (${spec.type}, ${spec.priority ?? 'normal'}) to swarm ${config.swarm}\n`,
    );
    const code = await watch(messageId);
    if (code !== EXIT.ok) process.exitCode = code;
  } finally {
    await bus.close();
  }
}

/**
 * Subscribe before publishing, so no step of the task can be missed; resolves with the exit code:
 * 0 complete, 1 dead, 2 rejected, 3 wait timeout.
 */
async function watchTask(
  bus: Bus,
  spec: TaskSpec,
  flags: SubmitFlags,
): Promise<(messageId: string) => Promise<number>> {
  await bus.subscribe({
    [TOPIC.tasksAssigned]: 1,
    [TOPIC.tasksProgress]: 1,
    [TOPIC.tasksComplete]: 1,
    [TOPIC.tasksFailed]: 1,
    [TOPIC.tasksDead]: 1,
    [TOPIC.errors]: 1,
  });
  const say = (line: string): void => void process.stderr.write(`${line}\n`);
  const roles = rolesForType(makeConfig(flags).taskTypes, spec.type);
  return (messageId) =>
    new Promise<number>((resolve) => {
      let attempt = 0;
      const finish = (code: number): void => {
        clearTimeout(quietTimer);
        clearTimeout(deadline);
        resolve(code);
      };
      const quietTimer = setTimeout(
        () =>
          say(
            `still queued after 5 s — is an agent of role ${roles.join(' or ')} running? (sheri agents)`,
          ),
        5_000,
      );
      const deadline = flags.waitTimeout
        ? setTimeout(() => {
            say(
              `gave up waiting after ${flags.waitTimeout} s; the task goes on (sheri task show ${spec.task_id})`,
            );
            finish(EXIT.unavailable);
          }, flags.waitTimeout * 1000)
        : undefined;
      bus.onMessage((topic, bytes) => {
        const decode = <S extends Parameters<typeof decodeMessage>[1]>(schema: S) => {
          const decoded = decodeMessage(bytes, schema, Number.MAX_SAFE_INTEGER);
          return decoded.ok ? decoded.payload : undefined;
        };
        if (topic === TOPIC.errors) {
          const report = decode(ErrorReport) as ErrorReport | undefined;
          if (report?.message_id === messageId) {
            say(`rejected by ${report.reporter}: ${report.reason}`);
            finish(EXIT.usage);
          }
          return;
        }
        const message = decode(
          {
            [TOPIC.tasksAssigned]: TaskAssigned,
            [TOPIC.tasksProgress]: TaskProgress,
            [TOPIC.tasksComplete]: TaskComplete,
            [TOPIC.tasksFailed]: TaskFailed,
            [TOPIC.tasksDead]: TaskDead,
          }[topic] ?? TaskDead,
        ) as { task_id?: string; attempt?: number } | undefined;
        if (!message || message.task_id !== spec.task_id) return;
        switch (topic) {
          case TOPIC.tasksAssigned: {
            const grant = message as TaskAssigned;
            attempt = grant.attempt;
            clearTimeout(quietTimer);
            say(`assigned to ${grant.agent_id} (attempt ${grant.attempt})`);
            return;
          }
          case TOPIC.tasksProgress:
            if (message.attempt === attempt) say(`  ${(message as TaskProgress).message}`);
            return;
          case TOPIC.tasksFailed:
            if (message.attempt === attempt)
              say(`attempt ${attempt} failed: ${(message as TaskFailed).error}`);
            return;
          case TOPIC.tasksComplete: {
            if (message.attempt !== attempt) return;
            const done = message as TaskComplete;
            say(`complete in ${done.duration_ms} ms`);
            if (flags.json) printJson(done);
            else printResult(done.result);
            finish(EXIT.ok);
            return;
          }
          case TOPIC.tasksDead: {
            const dead = message as TaskDead;
            say(`dead after ${dead.attempts} attempt(s): ${dead.error}`);
            if (flags.json) printJson(dead);
            finish(EXIT.taskFailed);
          }
        }
      });
    });
}

/** The tail of each command's output, the part a user looks at first. */
function printResult(result: unknown): void {
  const commands = (
    result as {
      commands?: { command: string; exit_code: number | null; stdout: string; stderr: string }[];
    }
  )?.commands;
  if (!Array.isArray(commands)) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  for (const command of commands) {
    process.stdout.write(`$ ${command.command}  (exit ${command.exit_code})\n`);
    const output = [command.stdout, command.stderr].filter(Boolean).join('\n').trimEnd();
    if (output) process.stdout.write(`${output}\n`);
  }
}
