import type { TaskAssigned } from '../protocol/messages.js';
import { buildEnvironment } from '../tools/shell/environment.js';
import { decide, type Decision } from '../tools/shell/policy.js';
import { runProcess, type ProcessResult } from '../tools/shell/run-process.js';
import type { ExecutionContext } from './execute-task.js';

export type GuardedRun =
  | { kind: 'refused'; why: string; verdict: Decision }
  | { kind: 'ran'; result: ProcessResult; summary: string; failed: boolean };

/**
 * The one path every command takes, runbook or LLM (SPEC §5): the role's policy decides, an
 * "ask" waits for a person, and only then does the runner start it.
 */
export async function runGuarded(
  command: string,
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
  context: ExecutionContext,
  /** Called once the command may run, just before it starts. */
  onStart?: () => void,
): Promise<GuardedRun> {
  const verdict = decide(command, context.policy, { workspace: options.cwd });
  const answer =
    verdict.decision === 'ask' ? await context.requestApproval(command, verdict) : undefined;
  if (verdict.decision === 'deny' || answer?.approved === false) {
    context.reportRefusal(command, verdict);
    const why = answer
      ? `was not approved (rule "${verdict.rule}" asks): ${answer.reason}`
      : `denied by rule "${verdict.rule}": ${verdict.reason}`;
    return { kind: 'refused', why, verdict };
  }
  onStart?.();
  const result = await runProcess(command, {
    cwd: options.cwd,
    env: options.env,
    timeoutMs: Math.min(options.timeoutMs, context.maxTimeoutMs),
    inactivityMs: context.inactivityMs,
    outputLimit: context.outputLimit,
    signal: context.signal,
  });
  const failed = result.exit_code !== 0 || result.timed_out || result.canceled;
  return { kind: 'ran', result, summary: describeResult(result), failed };
}

/** What a task's commands see besides the safe environment (PROTOCOL §7). */
export function taskEnvironment(
  assigned: TaskAssigned,
  context: ExecutionContext,
  inputsFile: string | undefined,
): NodeJS.ProcessEnv {
  return buildEnvironment(context.environment, context.allowedEnv, {
    ...(inputsFile ? { SHERI_INPUTS_FILE: inputsFile } : {}),
    SHERI_TASK_ID: assigned.task_id,
    SHERI_ATTEMPT: String(assigned.attempt),
    SHERI_AGENT_ID: context.agentId,
    SHERI_TASK_TYPE: assigned.task.type,
  });
}

export function describeResult(result: ProcessResult): string {
  if (result.timed_out) return `timed out after ${result.duration_ms} ms`;
  if (result.canceled) return 'was canceled';
  if (result.signal) return `was killed by ${result.signal}`;
  return `exited ${result.exit_code} in ${result.duration_ms} ms`;
}
