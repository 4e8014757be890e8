/** Every topic of a swarm lives under `<swarm>/`; see docs/PROTOCOL.md for who publishes what. */
export const TOPIC = {
  tasksNew: 'tasks/new',
  tasksClaim: 'tasks/claim',
  tasksAssigned: 'tasks/assigned',
  tasksRelease: 'tasks/release',
  tasksProgress: 'tasks/progress',
  tasksComplete: 'tasks/complete',
  tasksFailed: 'tasks/failed',
  tasksDead: 'tasks/dead',
  agentsRegister: 'agents/register',
  agentsHeartbeat: 'agents/heartbeat',
  agentsShutdown: 'agents/shutdown',
  hubStatus: 'hub/status',
  hubQuery: 'hub/query',
  /** Retained: the swarm budget's state (PROTOCOL §14.5), where one is configured. */
  hubBudget: 'hub/budget',
  approvalsRequest: 'approvals/request',
  approvalsAnswer: 'approvals/answer',
  broadcast: 'broadcast',
  errors: 'errors',
  /** PROTOCOL §17: flows submitted, and the hub's word on each one's steps. */
  flowsNew: 'flows/new',
  flowsUpdate: 'flows/update',
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
