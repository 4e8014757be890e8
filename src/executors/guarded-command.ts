import type { TaskAssigned } from '../protocol/messages.js';
import { buildEnvironment } from '../tools/shell/environment.js';
import { decide, type Decision } from '../tools/shell/policy.js';
import { describeLimit, runProcess, type ProcessResult } from '../tools/shell/run-process.js';
import type { SandboxLimits } from '../tools/shell/sandbox.js';
import { describeTampering, type Displaced, type Moved } from '../tools/protected-files.js';
import type { ExecutionContext } from './execute-task.js';

export type GuardedRun =
  | { kind: 'refused'; why: string; verdict: Decision }
  | {
      kind: 'ran';
      result: ProcessResult;
      summary: string;
      failed: boolean;
      /**
       * sheri's own files the command created (moved aside), or moved away or deleted: a task
       * that tried is not retried.
       */
      tampered: (Moved | Displaced)[];
    };

/**
 * The one path every command takes, runbook or LLM (SPEC §5): the role's policy decides, an
 * "ask" waits for a person, and only then does the runner start it — inside the agent's sandbox,
 * watched by the guard of sheri's own files.
 */
export async function runGuarded(
  command: string,
  options: {
    cwd: string;
    env: Record<string, string>;
    timeoutMs: number;
    /** Folders bound read-only into the sandbox (the inputs file's). */
    readOnlyPaths?: readonly string[];
    /** Folders bound read-write into the sandbox (the step outputs file's). */
    readWritePaths?: readonly string[];
  },
  context: ExecutionContext,
  /** Called once the command may run, just before it starts. */
  onStart?: () => void,
): Promise<GuardedRun> {
  const refusal = await authorizeCommand(command, options.cwd, context);
  if (refusal) return refusal;
  onStart?.();
  const run = (): Promise<ProcessResult> =>
    runProcess(command, {
      cwd: options.cwd,
      env: options.env,
      timeoutMs: Math.min(options.timeoutMs, context.maxTimeoutMs),
      inactivityMs: context.inactivityMs,
      outputLimit: context.outputLimit,
      signal: context.signal,
      sandbox: {
        sandbox: context.sandbox,
        workspace: context.workspace,
        readOnly: context.policy.readOnly,
        network: context.policy.network,
        ...(options.readOnlyPaths ? { readOnlyPaths: options.readOnlyPaths } : {}),
        ...(options.readWritePaths ? { readWritePaths: options.readWritePaths } : {}),
      },
    });
  const {
    value: result,
    created,
    displaced,
  } = context.guard
    ? await context.guard.around(run)
    : { value: await run(), created: [], displaced: [] };
  let summary = describeResult(result, context.sandbox.limits);
  const tampered = [...created, ...displaced];
  if (tampered.length > 0) {
    const what = describeTampering(created, displaced);
    summary = `${what}; ${summary}`;
    context.reportTamper(command, what);
  }
  const failed =
    result.exit_code !== 0 || result.timed_out || result.canceled || tampered.length > 0;
  return { kind: 'ran', result, summary, failed, tampered };
}

/**
 * The policy's verdict on a command (SPEC §5), a person's when it asks: undefined when it may
 * run, else the refusal, already reported on the bus. A service's command takes this path too.
 */
export async function authorizeCommand(
  command: string,
  cwd: string,
  context: ExecutionContext,
): Promise<Extract<GuardedRun, { kind: 'refused' }> | undefined> {
  const verdict = decide(command, context.policy, {
    workspace: cwd,
    protectedPaths: context.protectedPaths,
  });
  context.logger?.debug(
    { command, decision: verdict.decision, rule: verdict.rule },
    `policy: ${verdict.decision} by rule "${verdict.rule}": ${verdict.reason}`,
  );
  const answer =
    verdict.decision === 'ask' ? await context.requestApproval(command, verdict) : undefined;
  if (verdict.decision === 'deny' || answer?.approved === false) {
    context.reportRefusal(command, verdict);
    const why = answer
      ? `was not approved (rule "${verdict.rule}" asks): ${answer.reason}`
      : `denied by rule "${verdict.rule}": ${verdict.reason}`;
    return { kind: 'refused', why, verdict };
  }
  return undefined;
}

/** What a task's commands see besides the safe environment (PROTOCOL §7). */
export function taskEnvironment(
  assigned: TaskAssigned,
  context: ExecutionContext,
  inputsFile: string | undefined,
  /** Where the commands write `name=value` outputs (PROTOCOL §17.5). */
  outputsFile?: string,
): Record<string, string> {
  return buildEnvironment(context.environment, context.allowedEnv, {
    ...(inputsFile ? { SHERI_INPUTS_FILE: inputsFile } : {}),
    ...(outputsFile ? { SHERI_OUTPUT: outputsFile } : {}),
    SHERI_TASK_ID: assigned.task_id,
    SHERI_ATTEMPT: String(assigned.attempt),
    SHERI_AGENT_ID: context.agentId,
    SHERI_TASK_TYPE: assigned.task.type,
  });
}

export function describeResult(result: ProcessResult, limits?: SandboxLimits): string {
  const base = result.timed_out
    ? `timed out after ${result.duration_ms} ms`
    : result.canceled
      ? 'was canceled'
      : result.signal
        ? `was killed by ${result.signal}`
        : result.exit_code === null
          ? `did not start (${result.stderr.trim() || 'no reason given'})`
          : `exited ${result.exit_code} in ${result.duration_ms} ms`;
  return result.limit ? `${base}: it ran into ${describeLimit(result.limit, limits)}` : base;
}
