import { DEFAULT_TASK_TYPES } from '../protocol/task-types.js';

/** Every default, defined once, with its unit. */
export const DEFAULTS = {
  broker: 'mqtt://localhost:1883',
  swarm: 'opencto-dev',
  port: 1883, // TCP port of the embedded broker
  host: '127.0.0.1', // interface the embedded broker listens on
  dataDir: '.sheri', // relative to the working directory
  concurrency: 1, // tasks one agent runs at once
  heartbeatMs: 10_000, // agents/heartbeat period; also renews leases
  leaseMs: 30_000, // a granted task is requeued when its lease lapses this long after the last renewal
  leaseCheckMs: 1_000, // how often the hub looks for lapsed leases and due retries
  willGraceMs: 3_000, // a Last Will requeues the agent's tasks unless it is heard from within this
  maxAttempts: 3, // failed or lost attempts before a task is dead-lettered
  retryBaseMs: 1_000, // first retry delay; doubles per failure, with jitter
  retryMaxMs: 60_000, // longest retry delay
  taskTimeoutMs: 120_000, // hard limit of one command of a task
  maxPayloadBytes: 256 * 1024, // larger messages are rejected to <swarm>/errors
  outputLimitChars: 30_000, // of each of stdout and stderr per command: head and tail, cut between
  inactivityMs: 60_000, // a command silent this long is killed
  approvalTimeoutMs: 300_000, // an "ask" command not approved within this is denied
  queryTimeoutMs: 5_000, // how long CLI queries wait for the hub
  waitNoticeMs: 5_000, // `task submit --wait`: says why a task waits once it has had no grant this long
  taskTypes: DEFAULT_TASK_TYPES,
  // What a task of these types runs when it carries no commands; the config file adds or replaces.
  runbooks: {
    'testing.run': ['npm test'],
    'security.scan': ['npm audit --json'],
  } as Readonly<Record<string, readonly string[]>>,
  maxTaskTimeoutMs: 3_600_000, // the longest hard timeout a task may ask for (`timeout_ms`)
  sandbox: 'auto', // bwrap where it works, else none (said plainly at start and in heartbeats)
  // Limits of one sandboxed command (src/tools/shell/sandbox.ts).
  sandboxLimits: {
    memoryMiB: 2_048, // cgroup memory (RLIMIT_AS where no cgroup is usable)
    processes: 512, // cgroup pids.max (and RLIMIT_NPROC)
    fileSizeMiB: 1_024, // RLIMIT_FSIZE: the largest file a command may write
    cpuSeconds: 600, // RLIMIT_CPU per process
    tmpMiB: 512, // size of the private /tmp and of the empty $HOME
    openFiles: 4_096, // RLIMIT_NOFILE
  },
  maxJsonDepth: 64, // arrays and objects nested deeper are rejected (TOO_DEEP)
  // PROTOCOL §15: signed envelopes, freshness, and what one identity may submit.
  security: {
    signing: true, // sign every envelope and refuse unsigned ones
    maxClockSkewMs: 300_000, // a message's timestamp further from the receiver's clock is STALE
    replayCacheSize: 500_000, // message ids a receiver remembers to refuse replays
    rateLimit: {
      tasksPerSecond: 100, // tasks/new per identity, sustained
      taskBurst: 1_000, // tasks/new per identity at once
      bytesPerSecond: 4 * 1024 * 1024, // bytes of tasks/new per identity, sustained
      byteBurst: 16 * 1024 * 1024, // bytes of tasks/new per identity at once
    },
    maxQueuedPerSubmitter: 10_000, // one identity's tasks blocked, queued or assigned at once
    maxSubtasksPerTask: 1_000, // subtasks an agent may submit under one task, ever
  },
  missingNeedTimeoutMs: 3_600_000, // a blocked task whose need was never submitted is dead after this; 0: never
  retention: {
    finishedMaxAgeMs: 7 * 24 * 3_600_000, // complete and dead tasks older than this are pruned; 0: never
    pruneEveryMs: 3_600_000, // how often the hub prunes
  },
} as const;
