import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { TaskAssigned } from '../protocol/messages.js';
import { buildEnvironment } from '../tools/shell/environment.js';
import { decide, type Decision, type ShellPolicy } from '../tools/shell/policy.js';
import { runProcess, type ProcessResult } from '../tools/shell/run-process.js';

export interface ExecutionContext {
  agentId: string;
  /** Folder the agent works in; a task's `workspace` must lie inside it. */
  workspace: string;
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
}

export interface ApprovalAnswer {
  approved: boolean;
  reason: string;
}

export type Outcome =
  | { ok: true; result: Record<string, unknown> }
  | { ok: false; error: string; retryable: boolean; result?: Record<string, unknown> };

export const NO_PROVIDER_MESSAGE =
  'no LLM provider configured: this task has a prompt, and prompts run only through an LLM provider, ' +
  'which this agent does not have. Give the task `commands` (sheri task submit --command …) to run ' +
  'it without an LLM, or configure a runbook for its type in sheri.config.json.';

/** How a granted task runs: its commands, else its type's runbook, else a clear failure. */
export async function executeTask(
  assigned: TaskAssigned,
  context: ExecutionContext,
): Promise<Outcome> {
  const { task } = assigned;
  const cwd = resolveWorkspace(context.workspace, task.workspace);
  if (typeof cwd !== 'string') return cwd;
  const commands = task.commands ?? (task.prompt ? undefined : context.runbooks[task.type]);
  if (!commands) {
    if (task.prompt) return { ok: false, error: NO_PROVIDER_MESSAGE, retryable: false };
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
    return await runCommands(commands, cwd, assigned, context, inputsFile);
  } finally {
    if (inputsDir) await rm(inputsDir, { recursive: true, force: true });
  }
}

async function runCommands(
  commands: readonly string[],
  cwd: string,
  assigned: TaskAssigned,
  context: ExecutionContext,
  inputsFile: string | undefined,
): Promise<Outcome> {
  const results: ProcessResult[] = [];
  const env = buildEnvironment(context.environment, context.allowedEnv, {
    ...(inputsFile ? { SHERI_INPUTS_FILE: inputsFile } : {}),
    SHERI_TASK_ID: assigned.task_id,
    SHERI_ATTEMPT: String(assigned.attempt),
    SHERI_AGENT_ID: context.agentId,
    SHERI_TASK_TYPE: assigned.task.type,
  });
  for (const [index, command] of commands.entries()) {
    const step = `${index + 1}/${commands.length}`;
    const verdict = decide(command, context.policy, { workspace: cwd });
    const answer =
      verdict.decision === 'ask' ? await context.requestApproval(command, verdict) : undefined;
    if (verdict.decision === 'deny' || answer?.approved === false) {
      context.reportRefusal(command, verdict);
      const why = answer
        ? `was not approved (rule "${verdict.rule}" asks): ${answer.reason}`
        : `denied by rule "${verdict.rule}": ${verdict.reason}`;
      return {
        ok: false,
        retryable: false,
        error: `command ${step} \`${command}\` ${why}`,
        result: { commands: results, refused: { command, ...verdict } },
      };
    }
    context.progress(`running ${step}: ${command}`, (index / commands.length) * 100);
    const result = await runProcess(command, {
      cwd,
      env,
      timeoutMs: Math.min(assigned.task.timeout_ms ?? context.timeoutMs, context.maxTimeoutMs),
      inactivityMs: context.inactivityMs,
      outputLimit: context.outputLimit,
      signal: context.signal,
    });
    results.push(result);
    const summary = describe(result);
    context.progress(
      `finished ${step}, ${summary}: ${command}`,
      ((index + 1) / commands.length) * 100,
    );
    if (result.exit_code !== 0 || result.timed_out || result.canceled) {
      return {
        ok: false,
        retryable: true,
        error: `command ${step} \`${command}\` ${summary}`,
        result: { commands: results },
      };
    }
  }
  return { ok: true, result: { commands: results } };
}

function describe(result: ProcessResult): string {
  if (result.timed_out) return `timed out after ${result.duration_ms} ms`;
  if (result.canceled) return 'was canceled';
  if (result.signal) return `was killed by ${result.signal}`;
  return `exited ${result.exit_code} in ${result.duration_ms} ms`;
}

function resolveWorkspace(root: string, sub: string | undefined): string | Outcome {
  if (!sub) return root;
  const full = resolve(root, sub);
  const rel = relative(root, full);
  if (rel.startsWith('..') || isAbsolute(rel)) {
    return {
      ok: false,
      retryable: false,
      error: `task workspace "${sub}" lies outside the agent's workspace ${root}`,
    };
  }
  return full;
}
