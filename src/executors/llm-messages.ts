import type { TaskAssigned } from '../protocol/messages.js';
import { errorResult, type ToolResult } from '../tools/registry.js';
import type { GuardedRun } from './guarded-command.js';
import { clip } from '../util/text.js';

/** Inputs beyond this are cut: the model can still read the file SHERI_INPUTS_FILE names. */
const MAX_INPUTS_CHARS = 50_000;

/** The first user message: the task's prompt, its payload, and the results of what it needs. */
export function buildTaskMessage(assigned: TaskAssigned): string {
  const { task } = assigned;
  const parts = [
    `Task ${task.task_id} (type ${task.type}, attempt ${assigned.attempt}):`,
    task.prompt ?? '',
  ];
  if (Object.keys(task.payload).length > 0) {
    parts.push(`Task payload:\n${fence(JSON.stringify(task.payload, null, 2))}`);
  }
  if (Object.keys(assigned.inputs).length > 0) {
    parts.push(
      `Results of the tasks this one needs (also in the file $SHERI_INPUTS_FILE):\n${fence(JSON.stringify(assigned.inputs, null, 2))}`,
    );
  }
  return parts.join('\n\n');
}

function fence(json: string): string {
  const cut = json.length > MAX_INPUTS_CHARS ? `${json.slice(0, MAX_INPUTS_CHARS)}\n… [cut]` : json;
  return `\`\`\`json\n${cut}\n\`\`\``;
}

/** `read_file src/a.ts`, `run_shell git diff`: the line a tool call shows as progress. */
export function describeCall(name: string, input: unknown): string {
  const fields = (input ?? {}) as Record<string, unknown>;
  const main =
    fields.command ??
    fields.path ??
    fields.pattern ??
    fields.topic ??
    fields.type ??
    fields.message;
  const text = typeof main === 'string' ? main : JSON.stringify(input ?? {});
  return `${name} ${clip(text, 200)}`;
}

/** A shell run as the model reads it: the verdict or exit, then each stream under a header. */
export function shellToolResult(command: string, run: GuardedRun): ToolResult {
  if (run.kind === 'refused') return errorResult(`\`${command}\` ${run.why}`);
  const { result } = run;
  const streams = [
    result.stdout ? `--- stdout ---\n${result.stdout}` : '',
    result.stderr ? `--- stderr ---\n${result.stderr}` : '',
  ].filter(Boolean);
  const content = [`${run.summary}`, ...streams].join('\n');
  // A non-zero exit is information (a failing test), not a failure of the tool; a command
  // killed by a limit is.
  return result.timed_out || result.canceled ? { content, isError: true } : { content };
}
