import { TOPICS } from './topic-table.js';

/**
 * The table's topics that have no `{…}` level, by the same names (topic-table.ts is the one
 * source; new code uses `topicFor`). `tasksAssigned` is the prefix of every agent's
 * `tasks/assigned/<agent>`.
 */
export const TOPIC = {
  tasksNew: TOPICS.tasksNew.pattern,
  tasksClaim: TOPICS.tasksClaim.pattern,
  tasksAssigned: 'tasks/assigned',
  tasksRelease: TOPICS.tasksRelease.pattern,
  tasksProgress: TOPICS.tasksProgress.pattern,
  tasksComplete: TOPICS.tasksComplete.pattern,
  tasksFailed: TOPICS.tasksFailed.pattern,
  tasksDead: TOPICS.tasksDead.pattern,
  agentsRegister: TOPICS.agentsRegister.pattern,
  agentsHeartbeat: TOPICS.agentsHeartbeat.pattern,
  agentsShutdown: TOPICS.agentsShutdown.pattern,
  hubStatus: TOPICS.hubStatus.pattern,
  hubQuery: TOPICS.hubQuery.pattern,
  /** Retained: the swarm budget's state (PROTOCOL §14.5), where one is configured. */
  hubBudget: TOPICS.hubBudget.pattern,
  approvalsRequest: TOPICS.approvalsRequest.pattern,
  approvalsAnswer: TOPICS.approvalsAnswer.pattern,
  broadcast: TOPICS.broadcast.pattern,
  errors: TOPICS.errors.pattern,
  /** PROTOCOL §17: flows submitted, and the hub's word on each one's steps. */
  flowsNew: TOPICS.flowsNew.pattern,
  flowUpdate: TOPICS.flowUpdate.pattern,
} as const;

export type TopicName = (typeof TOPIC)[keyof typeof TOPIC];

const SWARM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A swarm name becomes the first topic level, so it may hold no `/`, `+`, `#` or spaces. */
export function checkSwarmName(swarm: string): string | undefined {
  return SWARM_NAME.test(swarm)
    ? undefined
    : `swarm name "${swarm}" must be 1-64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit`;
}

export function buildTopic(swarm: string, name: string): string {
  return `${swarm}/${name}`;
}

/** `agents/<id>/status`, the local name (without `<swarm>/`). */
export function agentStatusLocal(agentId: string): string {
  return `agents/${agentId}/status`;
}

export function agentStatusTopic(swarm: string, agentId: string): string {
  return buildTopic(swarm, agentStatusLocal(agentId));
}

export function hubReplyTopic(swarm: string, clientId: string): string {
  return `${swarm}/hub/replies/${clientId}`;
}

/** The part of `topic` after `<swarm>/`, or undefined when it is not in the swarm. */
export function localTopic(swarm: string, topic: string): string | undefined {
  const prefix = `${swarm}/`;
  return topic.startsWith(prefix) ? topic.slice(prefix.length) : undefined;
}

/** `agents/<id>/status` → `<id>`. */
export function agentIdOfStatusTopic(local: string): string | undefined {
  const match = /^agents\/([^/]+)\/status$/.exec(local);
  return match?.[1];
}

/**
 * `approvals/<id>/pending`: the request, retained while it waits and cleared (empty) once
 * answered or expired, so a dashboard started later still sees it (PROTOCOL §13).
 */
export function approvalPendingLocal(approvalId: string): string {
  return `approvals/${approvalId}/pending`;
}

/** `approvals/<id>/decision`, the local name an approval's answer travels on. */
export function approvalDecisionLocal(approvalId: string): string {
  return `approvals/${approvalId}/decision`;
}
