import { z } from 'zod';
import { isDomainTopic, RESERVED_ROOTS } from '../protocol/topic-table.js';
import { defineTool, errorResult } from './registry.js';

export const runShellTool = defineTool({
  name: 'run_shell',
  description:
    "Run a shell command (sh -c) in the workspace through the guarded runner: your role's policy checks every sub-command, secrets are removed from the environment, output is capped. Returns the exit code and output.",
  input: z.strictObject({
    command: z.string().min(1).max(10_000),
    timeout_ms: z.int().min(1).optional().describe('hard limit for this command'),
  }),
  async run({ command, timeout_ms }, context) {
    return context.runShell(command, timeout_ms);
  },
});

export const publishEventTool = defineTool({
  name: 'publish_event',
  description:
    'Publish an event for the swarm on a domain topic, e.g. code/review, tests/results, security/scan, deployment/status, monitoring/alerts, documentation/updates, database/status.',
  input: z.strictObject({
    topic: z.string().min(1).max(200),
    payload: z.record(z.string(), z.unknown()),
  }),
  async run({ topic, payload }, context) {
    // The table's rule, as the broker's ACL applies it (PROTOCOL §14.2).
    if (!isDomainTopic(topic)) {
      return errorResult(
        `"${topic}" is not a domain topic: use 2-3 lowercase levels like code/review, outside ${RESERVED_ROOTS.join(', ')}`,
      );
    }
    return context.publishEvent(topic, payload);
  },
});

export const reportProgressTool = defineTool({
  name: 'report_progress',
  description: 'Tell the people watching the swarm how the task is going.',
  input: z.strictObject({
    message: z.string().min(1).max(2_000),
    percent: z.number().min(0).max(100).optional(),
  }),
  async run({ message, percent }, context) {
    context.progress(message, percent);
    return { content: 'reported' };
  },
});

export const delegateTaskTool = defineTool({
  name: 'delegate_task',
  description:
    "Hand a subtask to the role that runs its type (e.g. testing.run to a testing agent) and wait for its outcome. Give a prompt for an LLM agent, or commands for a runbook. Returns the subtask's result, or its error.",
  input: z.strictObject({
    type: z.string().min(1).max(100),
    prompt: z.string().min(1).max(100_000).optional(),
    commands: z.array(z.string().min(1)).min(1).max(100).optional(),
    payload: z.record(z.string(), z.unknown()).optional(),
    timeout_s: z.int().min(1).max(86_400).optional().describe('how long to wait for the outcome'),
  }),
  async run({ type, prompt, commands, payload, timeout_s }, context) {
    return context.delegate({
      type,
      ...(prompt ? { prompt } : {}),
      ...(commands ? { commands } : {}),
      ...(payload ? { payload } : {}),
      ...(timeout_s ? { timeoutMs: timeout_s * 1000 } : {}),
    });
  },
});
