import type { TaskSpec } from '../protocol/messages.js';
import { topicFor } from '../protocol/topic-table.js';
import type { ProcessResult } from '../tools/shell/run-process.js';
import type { CheckAnswer } from './http-check.js';
import type { Outcome } from './execute-task.js';
import { parseAudit, parseTestSummary } from './test-summary.js';

/** One event for a domain topic (PROTOCOL §17.6). */
export interface DomainEvent {
  topic: string;
  payload: Record<string, unknown>;
}

/**
 * The events the built-in runbooks publish, decided from a task and (at its end) its outcome:
 * `deployment/status` at the start and end of a `deployment.*` task, `deployment/complete` when
 * one started a service, `tests/results` from a `testing.*` task's runner output,
 * `security/scan` from a `security.*` task's `npm audit --json`, `monitoring/health` for each
 * HTTP check and `monitoring/alerts` when one fails. Pure, so it is tested without a bus.
 */
export function domainEventsAtStart(task: TaskSpec): DomainEvent[] {
  if (!task.type.startsWith('deployment.')) return [];
  return [
    {
      topic: topicFor('deploymentStatus'),
      payload: { ...refOf(task), stage: 'started', message: `${task.type} started` },
    },
  ];
}

export function domainEventsAtEnd(task: TaskSpec, outcome: Outcome): DomainEvent[] {
  const events: DomainEvent[] = [];
  const ref = refOf(task);
  const result = (outcome.result ?? {}) as {
    commands?: ProcessResult[];
    service?: { name: string; url: string };
    http_check?: CheckAnswer;
    outputs?: Record<string, string>;
  };
  const commands = Array.isArray(result.commands) ? result.commands : [];
  if (task.type.startsWith('testing.')) {
    const summary = parseTestSummary(commands.map((c) => `${c.stdout}\n${c.stderr}`).join('\n'));
    if (summary)
      events.push({
        topic: topicFor('testsResults'),
        payload: { ...ref, ...summary, ok: outcome.ok },
      });
  }
  if (task.type.startsWith('security.')) {
    for (const command of commands) {
      if (!/\baudit\b/.test(command.command)) continue;
      const counts = parseAudit(command.stdout);
      if (counts) {
        events.push({
          topic: topicFor('securityScan'),
          payload: { ...ref, tool: 'npm audit', vulnerabilities: counts },
        });
      }
    }
  }
  if (result.http_check) {
    const check = result.http_check;
    events.push({
      topic: topicFor('monitoringHealth'),
      payload: {
        ...ref,
        url: check.url,
        ok: check.ok,
        status: check.status,
        duration_ms: check.duration_ms,
      },
    });
    if (!check.ok) {
      events.push({
        topic: topicFor('monitoringAlerts'),
        payload: {
          ...ref,
          severity: 'critical',
          url: check.url,
          status: check.status,
          message: outcome.ok ? 'health check failed' : outcome.error.slice(0, 1_000),
        },
      });
    }
  }
  if (task.type.startsWith('deployment.')) {
    const release = result.outputs?.release;
    if (outcome.ok && result.service) {
      events.push({
        topic: topicFor('deploymentStatus'),
        payload: {
          ...ref,
          stage: 'service-up',
          message: `service ${result.service.name} answers`,
          url: result.service.url,
          ...(release ? { release } : {}),
        },
      });
      events.push({
        topic: topicFor('deploymentComplete'),
        payload: {
          ...ref,
          url: result.service.url,
          service: result.service.name,
          ...(release ? { release } : {}),
          ...(task.type === 'deployment.rollback' ? { rolled_back: true } : {}),
        },
      });
    }
    events.push({
      topic: topicFor('deploymentStatus'),
      payload: {
        ...ref,
        stage: outcome.ok ? 'finished' : 'failed',
        message: outcome.ok ? `${task.type} finished` : outcome.error.slice(0, 1_000),
        ...(release ? { release } : {}),
      },
    });
  }
  return events;
}

function refOf(task: TaskSpec): { task_id: string; flow_id?: string } {
  return { task_id: task.task_id, ...(task.flow_id ? { flow_id: task.flow_id } : {}) };
}
