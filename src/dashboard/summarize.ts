import type { Usage } from '../protocol/messages.js';
import type { BusEvent } from './bus-event.js';
import { clock, describeBudget, formatBytes, formatMs, formatUsage } from './format.js';

export type Level = 'info' | 'warn' | 'error';

/** One readable line about one message, shared by `sheri trace` and the dashboard's feed. */
export interface Summary {
  /** Who sent it: the envelope's agent_id, or the agent a cleared status belonged to. */
  agent: string;
  text: string;
  level: Level;
}

const MAX_TEXT = 300;

export function summarizeEvent(event: BusEvent): Summary {
  const info = (text: string, level: Level = 'info'): Summary => ({
    agent: 'envelope' in event && event.envelope ? event.envelope.agent_id : '-',
    text: oneLine(text),
    level,
  });
  switch (event.kind) {
    case 'tasks/new': {
      const task = event.payload;
      const what = task.prompt
        ? `prompt: ${task.prompt}`
        : task.commands
          ? `${plural(task.commands.length, 'command')}: ${task.commands.join(' && ')}`
          : 'the runbook of its type';
      const needs = task.needs?.length ? ` needs ${task.needs.join(',')}` : '';
      return info(`${task.task_id} ${task.type} ${task.priority ?? 'normal'}${needs}: ${what}`);
    }
    case 'tasks/claim': {
      const running = event.payload.running.map((r) => `${r.task_id}#${r.attempt}`).join(',');
      return info(`free ${event.payload.free}${running ? `, running ${running}` : ''}`);
    }
    case 'tasks/assigned': {
      const grant = event.payload;
      // The results of this agent the hub recorded, confirmed in the grant (PROTOCOL §4.8).
      const recorded = grant.settled?.length
        ? `; recorded ${grant.settled.map((ref) => `${ref.task_id}#${ref.attempt}`).join(', ')}`
        : '';
      return info(
        `${grant.task_id} -> ${grant.agent_id} attempt ${grant.attempt} (lease ${formatMs(grant.lease_ms)})${recorded}`,
      );
    }
    case 'tasks/release': {
      const release = event.payload;
      const verb = release.refused ? 'refused' : 'released';
      return info(`${release.task_id}#${release.attempt} ${verb}: ${release.reason}`, 'warn');
    }
    case 'tasks/progress': {
      const p = event.payload;
      const percent = p.percent === undefined ? '' : ` ${Math.round(p.percent)}%`;
      return info(`${p.task_id}#${p.attempt}${percent} ${p.message}`);
    }
    case 'tasks/complete': {
      const done = event.payload;
      const usage = usageOfResult(done.result);
      const cost = usage ? `, ${formatUsage(usage)}` : '';
      return info(
        `${done.task_id}#${done.attempt} complete in ${formatMs(done.duration_ms)}${exitCodes(done.result)}${cost}`,
      );
    }
    case 'tasks/failed': {
      const failed = event.payload;
      const retry = failed.retryable ? 'retryable' : 'not retryable';
      return info(
        `${failed.task_id}#${failed.attempt} failed in ${formatMs(failed.duration_ms)} (${retry}): ${failed.error}`,
        'warn',
      );
    }
    case 'tasks/dead': {
      const dead = event.payload;
      return info(
        `${dead.task_id} dead after ${plural(dead.attempts, 'attempt')}: ${dead.error}`,
        'error',
      );
    }
    case 'agents/register': {
      const reg = event.payload;
      const where = reg.hostname ? ` on ${reg.hostname}` : '';
      const pid = reg.pid ? ` pid ${reg.pid}` : '';
      return info(`joined as ${reg.role}, concurrency ${reg.concurrency}${pid}${where}`);
    }
    case 'agents/heartbeat': {
      const beat = event.payload;
      const running = beat.running.map((r) => `${r.task_id}#${r.attempt}`).join(',');
      const usage = beat.usage ? `, ${formatUsage(beat.usage)}` : '';
      return info(
        `${beat.role} ${beat.status}, ${running ? `running ${running}` : 'idle'}, free ${beat.free}, ` +
          `rss ${formatBytes(beat.memory.rss)}, up ${formatMs(beat.uptime * 1000)}${usage}`,
      );
    }
    case 'agents/shutdown': {
      const back = event.payload.handed_back;
      const handed = Array.isArray(back) && back.length ? `; handed back ${back.join(',')}` : '';
      return info(`leaving: ${event.payload.reason}${handed}`, 'warn');
    }
    case 'agents/status':
      return info(`${event.payload.state} as ${event.payload.role}`);
    case 'agent-cleared':
      return {
        agent: event.agentId,
        text: 'presence cleared (Last Will or goodbye)',
        level: 'warn',
      };
    case 'hub/status': {
      const hub = event.payload;
      const reason = hub.reason ? ` (${hub.reason})` : '';
      return info(`hub ${hub.state}${reason}`, hub.state === 'online' ? 'info' : 'warn');
    }
    case 'hub/budget': {
      const budget = event.payload;
      return info(describeBudget(budget), budget.refused > 0 ? 'warn' : 'info');
    }
    case 'hub/query':
      return info(
        `asks the hub for ${event.payload.kind}${event.payload.task_id ? ` ${event.payload.task_id}` : ''}`,
      );
    case 'hub/replies':
      return info(event.payload.ok ? 'hub answered' : `hub refused: ${event.payload.error ?? ''}`);
    case 'tasks/delegated': {
      const outcome = event.payload;
      const why = outcome.error ? `: ${outcome.error}` : '';
      return info(
        `subtask ${outcome.task_id} of ${outcome.parent_task_id ?? '?'} ${outcome.state}${why}`,
        outcome.state === 'complete' ? 'info' : 'warn',
      );
    }
    case 'tasks/cancel': {
      const cancel = event.payload;
      return info(
        `cancel ${cancel.task_id} attempt ${cancel.attempt} to ${event.subject ?? '?'}: ${cancel.reason}`,
        'warn',
      );
    }
    case 'tasks/settled': {
      const refs = event.payload.results.map((ref) => `${ref.task_id}#${ref.attempt}`);
      return info(`recorded for ${event.subject ?? '?'}: ${refs.join(', ')}`);
    }
    case 'flows/new': {
      const flow = event.payload;
      return info(
        `flow ${flow.flow_id} submitted: ${flow.steps.map((step) => step.id).join(', ')}`,
      );
    }
    case 'flows/update': {
      const flow = event.payload;
      const steps = flow.steps.map((step) => `${step.id} ${step.state}`).join(', ');
      const level = flow.state === 'failed' || flow.state === 'canceled' ? 'warn' : 'info';
      return info(
        `flow ${flow.flow_id} ${flow.state}: ${steps}${flow.error ? ` — ${flow.error}` : ''}`,
        level,
      );
    }
    case 'approvals/request': {
      const ask = event.payload;
      return info(
        `${ask.approval_id} asks approval for \`${ask.command}\` (rule "${ask.rule}") until ${clock(Date.parse(ask.deadline))}`,
        'warn',
      );
    }
    case 'approvals/pending':
      return info(
        `${event.payload.approval_id} waits for an answer until ${clock(Date.parse(event.payload.deadline))}`,
      );
    case 'approval-cleared':
      return { agent: '-', text: `${event.approvalId} no longer waits`, level: 'info' };
    case 'approvals/answer': {
      const answer = event.payload;
      const reason = answer.reason ? `: ${answer.reason}` : '';
      return info(
        `${answer.approval_id} ${answer.approved ? 'approve' : 'deny'}, asks the hub${reason}`,
      );
    }
    case 'approvals/decision': {
      const decision = event.payload;
      const reason = decision.reason ? `: ${decision.reason}` : '';
      return info(`${decision.approval_id} ${decision.approved ? 'approved' : 'denied'}${reason}`);
    }
    case 'errors': {
      const report = event.payload;
      return info(
        `${report.code} on ${report.topic} (reported by ${report.reporter}): ${report.reason}`,
        'error',
      );
    }
    case 'invalid':
      return {
        agent: '-',
        text: oneLine(`unreadable (${event.code}, ${event.size} bytes): ${event.reason}`),
        level: 'error',
      };
    case 'other':
      return info(event.envelope ? (JSON.stringify(event.envelope.payload) ?? '') : event.text);
  }
}

function oneLine(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, ' | ');
  return flat.length > MAX_TEXT ? `${flat.slice(0, MAX_TEXT - 3)}...` : flat;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** ", exit 0" or ", exits 0,0,1": what a runbook's commands did, from the result. */
function exitCodes(result: unknown): string {
  const commands = (result as { commands?: { exit_code?: unknown }[] } | null)?.commands;
  if (!Array.isArray(commands) || commands.length === 0) return '';
  const codes = commands.map((c) => String(c.exit_code ?? '?'));
  return `, ${codes.length === 1 ? 'exit' : 'exits'} ${codes.join(',')}`;
}

function usageOfResult(result: unknown): Usage | undefined {
  const usage = (result as { usage?: Usage } | null)?.usage;
  return usage && typeof usage.input_tokens === 'number' && typeof usage.cost_usd === 'number'
    ? usage
    : undefined;
}
