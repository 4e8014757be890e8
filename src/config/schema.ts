import { z } from 'zod';
import { LlmFileSettings } from '../llm/settings.js';
import { startupVariableProblem } from '../tools/shell/startup-variables.js';
import { McpFileSettings } from '../tools/mcp/mcp-config.js';
import { BudgetFileSettings } from '../tasks/budget.js';
import { ScheduleFileSettings } from '../flows/schedule-config.js';

/** The config file (`sheri.config.json`, or --config / SHERI_CONFIG). Every key is optional. */
export const ConfigFile = z.strictObject({
  broker: z.string().optional(),
  swarm: z.string().optional(),
  heartbeatMs: z.int().min(100).optional(),
  leaseMs: z.int().min(500).optional(),
  maxAttempts: z.int().min(1).max(100).optional(),
  retryBaseMs: z.int().min(0).optional(),
  retryMaxMs: z.int().min(0).optional(),
  taskTimeoutMs: z.int().min(1).optional(),
  maxTaskTimeoutMs: z.int().min(1).optional(),
  inactivityMs: z.int().min(100).optional(),
  approvalTimeoutMs: z.int().min(100).optional(),
  /** How long a CLI command waits for the hub's answer. */
  queryTimeoutMs: z.int().min(100).optional(),
  /** `task submit --wait`: says why a task waits once it has had no grant this long. */
  waitNoticeMs: z.int().min(100).optional(),
  maxPayloadBytes: z.int().min(1024).optional(),
  /** Extra task types, or new roles for existing ones: `{ "lint.run": ["testing"] }`. */
  taskTypes: z.record(z.string(), z.array(z.string().min(1))).optional(),
  /**
   * Per role, environment variables its commands may see beyond the safe defaults: exact names, or
   * prefixes ending in `*`. A secret-looking name passes only when named exactly. Names that change
   * how a shell or runtime starts (BASH_ENV, LD_PRELOAD, NODE_OPTIONS, …) are refused.
   */
  shellEnv: z
    .record(
      z.string(),
      z.array(
        z
          .string()
          .min(1)
          .superRefine((name, context) => {
            const problem = startupVariableProblem(name);
            if (problem) context.addIssue({ code: 'custom', message: problem });
          }),
      ),
    )
    .optional(),
  /**
   * Per role, changes to its default shell policy (src/tools/shell/default-policies.json):
   * `{ "testing": { "allow": ["make test *"], "remove": ["pytest *"], "network": true } }`.
   * `replace: true` starts from the base policy; the always-deny rules cannot be removed.
   */
  shellPolicies: z
    .record(
      z.string(),
      z.strictObject({
        allow: z.array(z.string().min(1)).optional(),
        ask: z.array(z.string().min(1)).optional(),
        deny: z.array(z.string().min(1)).optional(),
        remove: z.array(z.string().min(1)).optional(),
        replace: z.boolean().optional(),
        readOnly: z.boolean().optional(),
        network: z.boolean().optional(),
      }),
    )
    .optional(),
  /**
   * The OS sandbox of commands (src/tools/shell/sandbox.ts): `auto` (bubblewrap where it works),
   * `bwrap` (refuse to start without it) or `none`; per role; limits of one command.
   */
  sandbox: z
    .strictObject({
      mode: z.enum(['auto', 'bwrap', 'none']).optional(),
      roles: z.record(z.string(), z.enum(['auto', 'bwrap', 'none'])).optional(),
      limits: z
        .strictObject({
          memoryMiB: z.int().min(64),
          processes: z.int().min(8),
          fileSizeMiB: z.int().min(1),
          cpuSeconds: z.int().min(1),
          tmpMiB: z.int().min(1),
          openFiles: z.int().min(64),
        })
        .partial()
        .optional(),
    })
    .optional(),
  /** Commands run for a task of this type that carries neither prompt nor commands. */
  runbooks: z.record(z.string(), z.array(z.string().min(1)).min(1)).optional(),
  /** How prompt tasks run: provider, model, limits, per-role overrides, prices (src/llm/settings.ts). */
  llm: LlmFileSettings.optional(),
  /** MCP servers, and per role which it gets and which of their tools it may call (src/tools/mcp/). */
  mcp: McpFileSettings.optional(),
  /** The swarm's spending limit on LLM tasks, enforced by the hub (src/tasks/budget.ts). */
  budget: BudgetFileSettings.optional(),
  /** Folder of `<role>.md` role profiles that replace the shipped ones; relative to this file. */
  profilesDir: z.string().min(1).optional(),
  maxJsonDepth: z.int().min(4).max(10_000).optional(),
  /** Signed envelopes and per-identity limits (PROTOCOL §15). */
  security: z
    .strictObject({
      signing: z.boolean().optional(),
      maxClockSkewMs: z.int().min(1_000).optional(),
      replayCacheSize: z.int().min(1_000).optional(),
      rateLimit: z
        .strictObject({
          tasksPerSecond: z.number().positive().optional(),
          taskBurst: z.int().min(1).optional(),
          bytesPerSecond: z.number().positive().optional(),
          byteBurst: z.int().min(1024).optional(),
        })
        .optional(),
      maxQueuedPerSubmitter: z.int().min(1).optional(),
      maxSubtasksPerTask: z.int().min(1).optional(),
    })
    .optional(),
  /** The hub's ledger: postgres://… for several hubs on one database (docs/DEPLOY.md). */
  ledger: z
    .strictObject({
      url: z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'ledger.url must be a postgres:// URL')
        .optional(),
    })
    .optional(),
  /**
   * A blocked task whose need was never submitted is dead after this long (PROTOCOL §17.8);
   * 0 waits for ever.
   */
  missingNeedTimeoutMs: z.int().min(0).optional(),
  /** Recurring tasks and flows the hub runs (PROTOCOL §17.7), by name. */
  schedules: ScheduleFileSettings.optional(),
  /** How long the hub keeps finished tasks (PROTOCOL §15.5). */
  retention: z
    .strictObject({
      finishedMaxAgeMs: z.int().min(0).optional(),
      pruneEveryMs: z.int().min(1_000).optional(),
    })
    .optional(),
});
export type ConfigFile = z.infer<typeof ConfigFile>;
