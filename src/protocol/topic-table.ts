import { z } from 'zod';
import {
  AgentHeartbeat,
  AgentRegister,
  AgentShutdown,
  AgentStatus,
  ApprovalAnswer,
  BudgetStatus,
  ApprovalDecision,
  ApprovalRequest,
  ClaimRequest,
  DelegatedOutcome,
  ErrorReport,
  HubQuery,
  HubReply,
  HubStatus,
  TaskAssigned,
  TaskComplete,
  TaskDead,
  TaskFailed,
  TaskProgress,
  TaskRelease,
  TaskSettled,
  TaskSpec,
} from './messages.js';
import {
  DeploymentComplete,
  DeploymentStatus,
  MonitoringAlert,
  MonitoringHealth,
  SecurityScan,
  TestsResults,
} from './domain-events.js';
import { FlowSubmit, FlowUpdate, TaskCancel } from './flow-messages.js';

import { KINDS, type Kind } from './kinds.js';

export { KINDS, type Kind };

/**
 * How the hub signs what it publishes on a topic (PROTOCOL §15.4): with the recipient's HMAC key
 * (one reader), or with its Ed25519 key (everyone verifies). Everyone else signs with their own.
 */
export type HubSigning = 'recipient' | 'broadcast';

/**
 * One topic of the swarm, named once (PROTOCOL §2.1, §15.3). `pattern` is the local topic with
 * `{agent}` (a level that must be an agent's own name when that agent publishes or subscribes),
 * `{client}` (the subscriber's own MQTT client id) and `{id}` (free) levels.
 */
export interface TopicSpec {
  readonly pattern: string;
  readonly schema: z.ZodType;
  /** QoS of publishes; the hub subscribes at `hubQos` when it differs (live-only topics). */
  readonly qos: 0 | 1;
  readonly hubQos?: 0 | 1;
  readonly retained: boolean;
  readonly publishers: readonly Kind[];
  /** Who may subscribe; anonymous loopback readers get `public` fields only. */
  readonly readers: readonly Kind[];
  readonly hubSigning?: HubSigning;
  /**
   * Payload fields an anonymous reader sees (a redacted copy); undefined: not delivered to them.
   * Never a task's inputs, commands or prompt, a result, an error text, a progress message.
   */
  readonly public?: readonly string[];
  /** An empty payload is allowed: the Last Will, or clearing a retained message. */
  readonly emptyAllowed?: boolean;
  /** One of the origin's domain events (PROTOCOL §17.6): news for people, no protocol step. */
  readonly domainEvent?: true;
}

const EVERYONE: readonly Kind[] = ['hub', 'agent', 'operator', 'observer'];
const WATCHERS: readonly Kind[] = ['operator', 'observer'];
const TASK_REF = ['task_id', 'attempt'];

/** A domain event's topic: agents publish it, everyone reads, anonymous readers see `shown`. */
function domainTopic<P extends string, S extends z.ZodType>(
  pattern: P,
  schema: S,
  shown: readonly string[],
): TopicSpec & { pattern: P; schema: S; domainEvent: true } {
  return {
    pattern,
    schema,
    qos: 1,
    retained: false,
    publishers: ['agent'],
    readers: EVERYONE,
    public: ['task_id', 'flow_id', ...shown],
    domainEvent: true,
  };
}

/** Every topic of the swarm. The embedded broker's ACL, the mosquitto ACL and the hub derive from it. */
export const TOPICS = {
  tasksNew: {
    pattern: 'tasks/new',
    schema: TaskSpec,
    qos: 1,
    retained: false,
    // Agents submit subtasks (delegate_task): the hub checks they hold the parent (§14.3).
    publishers: ['operator', 'agent'],
    readers: ['hub', ...WATCHERS],
    public: ['task_id', 'type', 'priority', 'needs', 'parent_task_id', 'depth', 'max_attempts'],
  },
  tasksAssigned: {
    pattern: 'tasks/assigned/{agent}',
    schema: TaskAssigned,
    qos: 1,
    retained: false,
    publishers: ['hub'],
    readers: ['agent', ...WATCHERS],
    hubSigning: 'recipient',
    public: ['task_id', 'agent_id', 'attempt', 'lease_ms', 'lease_expires_at'],
  },
  tasksDelegated: {
    pattern: 'tasks/delegated/{agent}',
    schema: DelegatedOutcome,
    qos: 1,
    retained: false,
    publishers: ['hub'],
    readers: ['agent', ...WATCHERS],
    hubSigning: 'recipient',
    public: ['task_id', 'parent_task_id', 'state', 'agent_id', 'attempts', 'code'],
  },
  // PROTOCOL §4.8: the hub recorded these results of that agent; it may stop resending them.
  tasksSettled: {
    pattern: 'tasks/settled/{agent}',
    schema: TaskSettled,
    qos: 1,
    retained: false,
    publishers: ['hub'],
    readers: ['agent', ...WATCHERS],
    hubSigning: 'recipient',
    public: ['results'],
  },
  tasksClaim: {
    pattern: 'tasks/claim',
    schema: ClaimRequest,
    qos: 1,
    // Live only (PROTOCOL §3.2): agents claim again whenever the hub comes back, and a claim
    // kept for a hub that was away says nothing true any more.
    hubQos: 0,
    retained: false,
    publishers: ['agent'],
    readers: ['hub', ...WATCHERS],
    public: ['free', 'running', 'task_id'],
  },
  tasksRelease: {
    pattern: 'tasks/release',
    schema: TaskRelease,
    qos: 1,
    retained: false,
    publishers: ['agent'],
    readers: ['hub', ...WATCHERS],
    public: [...TASK_REF, 'refused'],
  },
  tasksProgress: {
    pattern: 'tasks/progress',
    schema: TaskProgress,
    qos: 1,
    hubQos: 0,
    retained: false,
    publishers: ['agent'],
    readers: ['hub', ...WATCHERS],
    public: [...TASK_REF, 'percent'],
  },
  tasksComplete: {
    pattern: 'tasks/complete',
    schema: TaskComplete,
    qos: 1,
    retained: false,
    publishers: ['agent'],
    readers: ['hub', ...WATCHERS],
    public: [...TASK_REF, 'duration_ms'],
  },
  tasksFailed: {
    pattern: 'tasks/failed',
    schema: TaskFailed,
    qos: 1,
    retained: false,
    publishers: ['agent'],
    readers: ['hub', ...WATCHERS],
    public: [...TASK_REF, 'duration_ms', 'retryable'],
  },
  tasksDead: {
    pattern: 'tasks/dead',
    schema: TaskDead,
    qos: 1,
    retained: false,
    publishers: ['hub'],
    readers: WATCHERS,
    hubSigning: 'broadcast',
    public: ['task_id', 'attempts'],
  },
  agentsRegister: {
    pattern: 'agents/register',
    schema: AgentRegister,
    qos: 1,
    retained: false,
    publishers: ['agent'],
    readers: ['hub', ...WATCHERS],
    public: ['role', 'concurrency', 'types', 'version'],
  },
  agentsHeartbeat: {
    pattern: 'agents/heartbeat',
    schema: AgentHeartbeat,
    qos: 0,
    retained: false,
    publishers: ['agent'],
    readers: ['hub', ...WATCHERS],
    public: ['status', 'uptime', 'memory', 'role', 'running', 'free', 'usage'],
  },
  agentsShutdown: {
    pattern: 'agents/shutdown',
    schema: AgentShutdown,
    qos: 1,
    retained: false,
    publishers: ['agent'],
    readers: ['hub', ...WATCHERS],
    public: ['handed_back'],
  },
  agentStatus: {
    pattern: 'agents/{agent}/status',
    schema: AgentStatus,
    qos: 1,
    retained: true,
    publishers: ['agent'],
    readers: ['hub', 'agent', ...WATCHERS],
    public: ['state', 'role', 'since'],
    emptyAllowed: true,
  },
  hubStatus: {
    pattern: 'hub/status',
    schema: HubStatus,
    qos: 1,
    retained: true,
    publishers: ['hub'],
    readers: EVERYONE,
    hubSigning: 'broadcast',
    public: ['state', 'since', 'reason'],
  },
  hubBudget: {
    pattern: 'hub/budget',
    schema: BudgetStatus,
    qos: 1,
    retained: true,
    publishers: ['hub'],
    readers: EVERYONE,
    hubSigning: 'broadcast',
    public: ['day', 'daily_usd', 'spent_today_usd', 'running_usd', 'flow_usd', 'refused'],
  },
  hubQuery: {
    pattern: 'hub/query',
    schema: HubQuery,
    qos: 0,
    retained: false,
    publishers: ['operator'],
    readers: ['hub', ...WATCHERS],
    public: ['kind', 'task_id', 'state', 'limit'],
  },
  hubReply: {
    pattern: 'hub/replies/{client}',
    schema: HubReply,
    qos: 0,
    retained: false,
    publishers: ['hub'],
    readers: WATCHERS,
    hubSigning: 'recipient',
  },
  approvalsRequest: {
    pattern: 'approvals/request',
    schema: ApprovalRequest,
    qos: 1,
    retained: false,
    publishers: ['agent'],
    readers: ['hub', ...WATCHERS],
    public: ['approval_id', ...TASK_REF, 'rule', 'deadline'],
  },
  approvalPending: {
    pattern: 'approvals/{id}/pending',
    schema: ApprovalRequest,
    qos: 1,
    retained: true,
    // The agent asking; an operator's dashboard clears the copy of a request that expired.
    publishers: ['agent', 'operator'],
    readers: WATCHERS,
    public: ['approval_id', ...TASK_REF, 'rule', 'deadline'],
    emptyAllowed: true,
  },
  approvalsAnswer: {
    pattern: 'approvals/answer',
    schema: ApprovalAnswer,
    qos: 1,
    retained: false,
    publishers: ['operator'],
    readers: ['hub', ...WATCHERS],
    public: ['approval_id', 'approved'],
  },
  approvalDecision: {
    pattern: 'approvals/{id}/decision',
    schema: ApprovalDecision,
    qos: 1,
    retained: false,
    publishers: ['hub'],
    readers: ['agent', ...WATCHERS],
    hubSigning: 'recipient',
    public: ['approval_id', 'approved', 'approver'],
  },
  errors: {
    pattern: 'errors',
    schema: ErrorReport,
    qos: 1,
    retained: false,
    publishers: ['hub', 'agent'],
    readers: WATCHERS,
    hubSigning: 'broadcast',
    public: ['code', 'topic', 'reporter', 'message_id', 'task_id', 'size'],
  },
  // PROTOCOL §17: flows, and the cancel of an attempt that no longer counts.
  flowsNew: {
    pattern: 'flows/new',
    schema: FlowSubmit,
    qos: 1,
    retained: false,
    publishers: ['operator'],
    readers: ['hub', ...WATCHERS],
    public: ['flow_id', 'name'],
  },
  flowUpdate: {
    pattern: 'flows/update',
    schema: FlowUpdate,
    qos: 1,
    retained: false,
    publishers: ['hub'],
    readers: WATCHERS,
    hubSigning: 'broadcast',
    public: ['flow_id', 'name', 'state', 'steps', 'created_at', 'finished_at'],
  },
  tasksCancel: {
    pattern: 'tasks/cancel/{agent}',
    schema: TaskCancel,
    qos: 1,
    retained: false,
    publishers: ['hub'],
    readers: ['agent', ...WATCHERS],
    hubSigning: 'recipient',
    public: TASK_REF,
  },
  // The origin's domain events (PROTOCOL §17.6): agents publish, everyone may read.
  deploymentStatus: domainTopic('deployment/status', DeploymentStatus, ['stage', 'release']),
  deploymentComplete: domainTopic('deployment/complete', DeploymentComplete, [
    'service',
    'release',
    'rolled_back',
  ]),
  testsResults: domainTopic('tests/results', TestsResults, [
    'passed',
    'failed',
    'skipped',
    'total',
    'coverage_pct',
    'runner',
    'ok',
  ]),
  securityScan: domainTopic('security/scan', SecurityScan, ['tool', 'vulnerabilities']),
  monitoringHealth: domainTopic('monitoring/health', MonitoringHealth, [
    'ok',
    'status',
    'duration_ms',
  ]),
  monitoringAlerts: domainTopic('monitoring/alerts', MonitoringAlert, ['severity', 'status']),
  broadcast: {
    pattern: 'broadcast',
    schema: z.unknown(),
    qos: 1,
    retained: false,
    publishers: ['hub', 'operator'],
    readers: EVERYONE,
    hubSigning: 'broadcast',
    public: [],
  },
} as const satisfies Record<string, TopicSpec>;

export type TopicKey = keyof typeof TOPICS;
/** The keys of the origin's domain events (`deployment/status`, `tests/results`, …). */
export type DomainEventKey = {
  [K in TopicKey]: (typeof TOPICS)[K] extends { domainEvent: true } ? K : never;
}[TopicKey];
export type PayloadOf<K extends TopicKey> = z.output<(typeof TOPICS)[K]['schema']>;

/**
 * Domain topics (`deployment/status`, `tests/results`, …): 2–3 lowercase levels whose first is
 * none of the protocol's own. Agents publish events there; everyone may read (PROTOCOL §14.2).
 */
export const DOMAIN_TOPIC: TopicSpec = {
  pattern: '{domain}',
  schema: z.unknown(),
  qos: 1,
  retained: false,
  publishers: ['agent'],
  readers: EVERYONE,
  public: [],
};

/** First levels the protocol owns: no domain topic starts with one. */
export const RESERVED_ROOTS: readonly string[] = [
  'tasks',
  'agents',
  'hub',
  'approvals',
  'errors',
  'broadcast',
  'flows',
];

const DOMAIN = /^[a-z][a-z0-9_-]*(?:\/[a-z0-9][a-z0-9_-]*){1,2}$/;

export function isDomainTopic(local: string): boolean {
  return DOMAIN.test(local) && !RESERVED_ROOTS.includes(local.slice(0, local.indexOf('/')));
}

/**
 * First levels of the domain topics the mosquitto ACL lets agents write (mosquitto cannot say
 * "anything but these": its ACLs only allow). The origin's topics and the roles' own names.
 */
export const DOMAIN_ROOTS: readonly string[] = [
  'code',
  'database',
  'deployment',
  'documentation',
  'general',
  'monitoring',
  'review',
  'security',
  'testing',
  'tests',
];

/** The `{…}` levels of a pattern, as an object type: `{ agent: string }` for `tasks/assigned/{agent}`. */
type ParamsIn<P extends string> = P extends `${string}{${infer Name}}${infer Rest}`
  ? { [N in Name]: string } & ParamsIn<Rest>
  : unknown;
export type ParamsOf<K extends TopicKey> = ParamsIn<(typeof TOPICS)[K]['pattern']>;

/**
 * The local topic of `key` with its `{…}` levels filled in, so no code spells a topic out:
 * `topicFor('tasksAssigned', { agent: 'testing-1' })` is `tasks/assigned/testing-1`.
 */
export function topicFor<K extends TopicKey>(
  key: K,
  ...params: keyof ParamsOf<K> extends never ? [] : [ParamsOf<K>]
): string {
  const [values] = params;
  return fillTopic(key, values ?? {});
}

/** `topicFor` for a key known only at run time; a missing or malformed level throws. */
export function fillTopic(key: TopicKey, values: Readonly<Record<string, string>>): string {
  const { pattern } = TOPICS[key];
  return pattern.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined || value === '' || /[/+#]/.test(value)) {
      throw new Error(
        `topic ${pattern}: {${name}} must be one level, got ${JSON.stringify(value)}`,
      );
    }
    return value;
  });
}

/** The subscription filter of `key`: each `{…}` level a `+` (`tasks/assigned/+`). */
export function filterFor(key: TopicKey): string {
  return TOPICS[key].pattern.replace(/\{\w+\}/g, '+');
}

/**
 * What `reader` subscribes to for these topics, with the QoS the table gives it (the hub's
 * `hubQos` where one is set): a filter per topic, `params` filling the levels it reads its own
 * (an agent's `{agent}`), `+` for the rest.
 */
export function subscriptionsFor(
  reader: Kind,
  keys: readonly TopicKey[],
  params: Readonly<Record<string, string>> = {},
): Record<string, 0 | 1> {
  const subscriptions: Record<string, 0 | 1> = {};
  for (const key of keys) {
    const spec: TopicSpec = TOPICS[key];
    if (!spec.readers.includes(reader)) {
      throw new Error(`${reader} does not read ${spec.pattern} (topic-table.ts)`);
    }
    const filter = spec.pattern.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? '+');
    subscriptions[filter] = reader === 'hub' && spec.hubQos !== undefined ? spec.hubQos : spec.qos;
  }
  return subscriptions;
}

/**
 * The kind of message a topic carries, for readers that show every topic (trace, the
 * dashboard): its pattern without the `{…}` levels (`agents/{agent}/status` → `agents/status`).
 */
type KindIn<P extends string> = P extends `${infer Head}/{${string}}/${infer Tail}`
  ? `${Head}/${KindIn<Tail>}`
  : P extends `${infer Head}/{${string}}`
    ? Head
    : P;
export type MessageKind<K extends TopicKey = TopicKey> = KindIn<(typeof TOPICS)[K]['pattern']>;

export function messageKindOf<K extends TopicKey>(key: K): MessageKind<K> {
  return TOPICS[key].pattern.replace(/\/\{\w+\}/g, '') as MessageKind<K>;
}
