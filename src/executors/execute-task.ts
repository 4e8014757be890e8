import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from '../logging/logger.js';
import type { TaskAssigned } from '../protocol/messages.js';
import type { StateGuard } from '../tools/protected-files.js';
import type { Decision, ShellPolicy } from '../tools/shell/policy.js';
import type { ProcessResult } from '../tools/shell/run-process.js';
import type { Sandbox } from '../tools/shell/sandbox.js';
import { isInside } from '../tools/workspace-path.js';
import { domainEventsAtEnd, domainEventsAtStart } from './domain-events.js';
import { runGuarded, taskEnvironment } from './guarded-command.js';
import { runHttpCheck } from './http-check.js';
import type { LlmServices } from './llm-executor.js';
import { runService } from './run-service.js';
import type { ServiceSupervisor } from './service-supervisor.js';
import { OUTPUT_FILE_NAME, readOutputs } from './step-outputs.js';
import { omitKeys } from '../util/omit-keys.js';

export interface ExecutionContext {
  agentId: string;
  /** Folder the agent works in (its real path); a task's `workspace` must lie inside it. */
  workspace: string;
  /** Where commands run: bubblewrap, or bare bash. */
  sandbox: Sandbox;
  /** sheri's own files and folders: no command or file tool may touch them. */
  protectedPaths: readonly string[];
  /** Moves aside a protected file a command created where no mount could stop it. */
  guard?: StateGuard;
  /** Say on the bus what a command did to sheri's own files (describeTampering). */
  reportTamper: (command: string, what: string) => void;
  timeoutMs: number;
  /** The longest hard timeout a task may ask for; longer requests are cut to it. */
  maxTimeoutMs: number;
  inactivityMs: number;
  outputLimit: number;
  /** The agent's environment, and the extra names its role may pass on (see buildEnvironment). */
  environment: Readonly<Record<string, string | undefined>>;
  allowedEnv: readonly string[];
  /** What the role's commands may run; anything else is refused before it starts. */
  policy: ShellPolicy;
  /** Say on the bus that a command was refused, with the rule that refused it. */
  reportRefusal: (command: string, decision: Decision) => void;
  /** Ask a person over the bus; resolves with their answer, or a denial at the deadline. */
  requestApproval: (command: string, decision: Decision) => Promise<ApprovalAnswer>;
  runbooks: Readonly<Record<string, readonly string[]>>;
  signal: AbortSignal;
  progress: (message: string, percent?: number) => void;
  /** Present when the agent has an LLM provider: what a prompt task runs with. */
  llm?: LlmServices;
  /** For `--log-level debug`: each policy decision. */
  logger?: Logger;
  /** The services the agent keeps running (a task's `service`, PROTOCOL §17.4). */
  services?: ServiceSupervisor;
  /** Publish a domain event (PROTOCOL §17.6); never throws. */
  publishEvent?: (topic: string, payload: Record<string, unknown>) => void;
}

export interface ApprovalAnswer {
  approved: boolean;
  reason: string;
}

export type Outcome =
  | { ok: true; result: Record<string, unknown> }
  | { ok: false; error: string; retryable: boolean; result?: Record<string, unknown> };

export const NO_PROVIDER_MESSAGE =
  'no LLM provider configured: this task has a prompt, and this agent has no model to run it. ' +
  'Start the agent with ANTHROPIC_API_KEY set (Claude; --model to choose one), or with a local ' +
  'model: --llm openai --llm-base-url http://localhost:11434/v1 --model llama3.1 (Ollama, ' +
  'llama.cpp, vLLM). Or give the task `commands` (sheri task submit --command …) to run it ' +
  'without an LLM.';

/**
 * How a granted task runs: its HTTP check, its commands (then its service), else its type's
 * runbook, else a clear failure; with the domain events of its type around it (§17.6).
 */
export async function executeTask(
  assigned: TaskAssigned,
  context: ExecutionContext,
): Promise<Outcome> {
  const publish = (events: { topic: string; payload: Record<string, unknown> }[]): void => {
    for (const event of events) context.publishEvent?.(event.topic, event.payload);
  };
  publish(domainEventsAtStart(assigned.task));
  const outcome = await executeWork(assigned, context);
  if (!context.signal.aborted) publish(domainEventsAtEnd(assigned.task, outcome));
  return outcome;
}

async function executeWork(assigned: TaskAssigned, context: ExecutionContext): Promise<Outcome> {
  const { task } = assigned;
  const cwd = await resolveWorkspace(context.workspace, task.workspace);
  if (typeof cwd !== 'string') return cwd;
  if (task.http_check) return runHttpCheck(task.http_check, context);
  const commands =
    task.commands ?? (task.prompt || task.service ? undefined : context.runbooks[task.type]);
  if (!commands && task.prompt && !context.llm) {
    return { ok: false, error: NO_PROVIDER_MESSAGE, retryable: false };
  }
  if (!commands && !task.prompt && !task.service) {
    return {
      ok: false,
      retryable: false,
      error: `no runbook configured for task type "${task.type}": give the task \`commands\`, or add "runbooks": { "${task.type}": ["…"] } to sheri.config.json`,
    };
  }
  // Results of the tasks this one needs, for its commands to read (PROTOCOL §7).
  const inputsDir =
    Object.keys(assigned.inputs).length > 0
      ? await mkdtemp(join(tmpdir(), 'sheri-inputs-'))
      : undefined;
  try {
    const inputsFile = inputsDir ? join(inputsDir, 'inputs.json') : undefined;
    if (inputsFile) await writeFile(inputsFile, JSON.stringify(assigned.inputs));
    if (task.prompt && !commands) {
      // The LLM loop (and the MCP SDK under it) loads with the first prompt task, not at start.
      const { runLlmTask } = await import('./llm-executor.js');
      return await runLlmTask(assigned, cwd, context, inputsFile, inputsDir);
    }
    return await runSteps(commands ?? [], cwd, assigned, context, inputsFile, inputsDir);
  } finally {
    if (inputsDir) await rm(inputsDir, { recursive: true, force: true });
  }
}

/**
 * The commands in order, then the service if the task has one; the outputs they wrote to
 * `$SHERI_OUTPUT` go in the result (PROTOCOL §17.5), with the service's `url` and `port`.
 */
async function runSteps(
  commands: readonly string[],
  cwd: string,
  assigned: TaskAssigned,
  context: ExecutionContext,
  inputsFile: string | undefined,
  inputsDir: string | undefined,
): Promise<Outcome> {
  const outputsDir = await mkdtemp(join(tmpdir(), 'sheri-outputs-'));
  try {
    const env = taskEnvironment(assigned, context, inputsFile, join(outputsDir, OUTPUT_FILE_NAME));
    const ran = await runCommands(commands, cwd, assigned, context, env, inputsDir, outputsDir);
    const { outputs, problems } = await readOutputs(outputsDir);
    const withOutputs = (result: Record<string, unknown> | undefined): Record<string, unknown> => ({
      ...result,
      ...(Object.keys(outputs).length > 0 ? { outputs } : {}),
      ...(problems.length > 0 ? { output_problems: problems } : {}),
    });
    const service = assigned.task.service;
    if (!ran.ok || !service) return { ...ran, result: withOutputs(ran.result) } as Outcome;
    const started = await runService(service, assigned.task_id, cwd, env, context);
    if (!started.ok)
      return { ...started, result: withOutputs({ ...ran.result, ...started.result }) };
    const shown = omitKeys(started.service, 'ended');
    return {
      ok: true,
      result: {
        ...withOutputs(ran.result),
        service: shown,
        outputs: { ...outputs, url: shown.url, port: String(shown.port), service: shown.name },
      },
    };
  } finally {
    await rm(outputsDir, { recursive: true, force: true });
  }
}

async function runCommands(
  commands: readonly string[],
  cwd: string,
  assigned: TaskAssigned,
  context: ExecutionContext,
  env: Record<string, string>,
  inputsDir: string | undefined,
  outputsDir: string,
): Promise<Outcome> {
  const results: ProcessResult[] = [];
  const timeoutMs = assigned.task.timeout_ms ?? context.timeoutMs;
  const readOnlyPaths = inputsDir ? [inputsDir] : [];
  const readWritePaths = [outputsDir];
  for (const [index, command] of commands.entries()) {
    const step = `${index + 1}/${commands.length}`;
    const options = { cwd, env, timeoutMs, readOnlyPaths, readWritePaths };
    const run = await runGuarded(command, options, context, () =>
      context.progress(`running ${step}: ${command}`, (index / commands.length) * 100),
    );
    if (run.kind === 'refused') {
      return {
        ok: false,
        retryable: false,
        error: `command ${step} \`${command}\` ${run.why}`,
        result: { commands: results, refused: { command, ...run.verdict } },
      };
    }
    results.push(run.result);
    context.progress(
      `finished ${step}, ${run.summary}: ${command}`,
      ((index + 1) / commands.length) * 100,
    );
    if (run.failed) {
      return {
        ok: false,
        // A task that writes sheri's own files would do it again.
        retryable: run.tampered.length === 0,
        error: `command ${step} \`${command}\` ${run.summary}`,
        result: { commands: results },
      };
    }
  }
  return { ok: true, result: { commands: results } };
}

/**
 * The task's folder, by its real path and inside the agent's workspace: a `workspace` that is a
 * symlink to `/` (or through one) is refused, not followed.
 */
async function resolveWorkspace(root: string, sub: string | undefined): Promise<string | Outcome> {
  if (!sub) return root;
  const refuse = (why: string): Outcome => ({
    ok: false,
    retryable: false,
    error: `task workspace "${sub}" ${why}`,
  });
  const full = resolve(root, sub);
  if (!isInside(root, full)) return refuse(`lies outside the agent's workspace ${root}`);
  let real: string;
  try {
    real = await realpath(full);
  } catch (error) {
    return refuse(
      `cannot be used: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  if (!isInside(root, real)) {
    return refuse(
      `leads outside the agent's workspace ${root} through a symbolic link (to ${real})`,
    );
  }
  return real;
}
