import { z } from 'zod';
import type { HubStatus } from '../protocol/messages.js';

/** What `--wait` reads of the hub's `task` answer (PROTOCOL §10); the rest is kept, unread. */
export const WatchedTask = z.looseObject({
  task_id: z.string(),
  state: z.string(),
  attempt: z.int(),
  failures: z.int().optional(),
  agent_id: z.string().nullable().optional(),
  result: z.unknown(),
  last_error: z.string().nullable(),
  needs: z.array(z.looseObject({ task_id: z.string(), state: z.string().nullable() })).optional(),
  history: z
    .array(z.looseObject({ kind: z.string(), attempt: z.int().nullable(), detail: z.unknown() }))
    .optional(),
});
export type WatchedTask = z.infer<typeof WatchedTask>;

/** What `--wait` reads of the hub's `agents` answer. */
export const WatchedAgents = z.looseObject({
  agents: z.array(
    z.looseObject({
      agent_id: z.string(),
      role: z.string(),
      state: z.string(),
      running: z.array(z.string()),
    }),
  ),
});
export type WatchedAgents = z.infer<typeof WatchedAgents>;

/** What is known of a task that has had no grant yet. */
export interface WaitFacts {
  taskId: string;
  /** The roles that may run it. */
  roles: readonly string[];
  /** The hub's view of it; undefined when the hub has no record of it. */
  task?: WatchedTask | undefined;
  /** The live agents; undefined when not asked (or the hub did not answer). */
  agents?: WatchedAgents | undefined;
  /** Why the hub did not answer, if it did not. */
  hubSilent?: string | undefined;
  /** The hub's retained status, if one was read. */
  hubStatus?: HubStatus | undefined;
}

const list = (items: readonly string[], word: string): string =>
  items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} ${word} ${items.at(-1)}`;

/**
 * The real reason a task waits, in one line (issue: "still queued — is an agent running?" was
 * said of tasks blocked on a need, or of a hub that was down). Pure, so each case is testable.
 */
export function explainWait(facts: WaitFacts): string {
  const { taskId, roles } = facts;
  if (facts.hubSilent !== undefined) {
    const status = facts.hubStatus;
    const offline =
      status?.state === 'offline'
        ? ` (its status says offline${status.since ? ` since ${status.since}` : ''}${status.reason ? `: ${status.reason}` : ''})`
        : '';
    return `waiting for the hub: it does not answer${offline}; the task waits in its session until a hub runs again (sheri up, or sheri hub)`;
  }
  const task = facts.task;
  if (!task) {
    return `the hub has no record of ${taskId} yet: it is catching up on its session, or the task never reached it (sheri task show ${taskId})`;
  }
  switch (task.state) {
    case 'blocked': {
      const open = (task.needs ?? []).filter((need) => need.state !== 'complete');
      const named = open.map((need) => `${need.task_id} (${need.state ?? 'not submitted yet'})`);
      const them = named.length === 1 ? 'it completes' : 'they complete';
      return `blocked: it needs ${list(named, 'and') || 'tasks that have not completed'}; it becomes claimable when ${them}`;
    }
    case 'assigned':
      return `assigned to ${task.agent_id ?? 'an agent'} (attempt ${task.attempt})`;
    case 'queued': {
      const retry =
        task.failures && task.last_error
          ? `, to retry after ${task.failures} failed attempt${task.failures === 1 ? '' : 's'} (${task.last_error})`
          : '';
      const agents = facts.agents?.agents.filter((agent) => roles.includes(agent.role));
      if (!agents) return `queued${retry}`;
      const roleWords = list([...roles], 'or');
      if (agents.length === 0) {
        return `queued${retry}: no agent of role ${roleWords} is running — start one: sheri agent --role ${roles[0]}`;
      }
      const free = agents.filter((agent) => agent.state === 'idle');
      if (free.length === 0) {
        return `queued${retry}: the ${agents.length} agent${agents.length === 1 ? '' : 's'} of role ${roleWords} ${agents.length === 1 ? 'is' : 'are'} busy or stopping; it runs when one is free (sheri agents)`;
      }
      return `queued${retry}; ${free.length} idle agent${free.length === 1 ? '' : 's'} of role ${roleWords} should claim it soon (sheri agents)`;
    }
    default:
      return `${task.state} (sheri task show ${taskId})`;
  }
}
