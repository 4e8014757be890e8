import { z } from 'zod';

/**
 * The origin's domain events (PROTOCOL §17.6), published by agents as they work: by the built-in
 * runbooks (src/executors/domain-events.ts) and by LLM steps (`publish_event`). Loose, as every
 * message is; the fields named here are checked where present.
 */

const Count = z.int().min(0);
const TaskRef = { task_id: z.string().max(128).optional(), flow_id: z.string().max(60).optional() };

/** `deployment/status`: a deployment step's progress. */
export const DeploymentStatus = z.looseObject({
  ...TaskRef,
  stage: z.string().min(1).max(100),
  message: z.string().max(2_000).optional(),
  url: z.string().max(4_000).optional(),
  release: z.string().max(200).optional(),
});
export type DeploymentStatus = z.infer<typeof DeploymentStatus>;

/** `tests/results`: what a test runner's summary said (node --test, vitest, jest, mocha, pytest). */
export const TestsResults = z.looseObject({
  ...TaskRef,
  passed: Count,
  failed: Count,
  skipped: Count.optional(),
  total: Count.optional(),
  /** Line coverage of all files, when the runner printed it. */
  coverage_pct: z.number().min(0).max(100).optional(),
  runner: z.string().max(100).optional(),
  ok: z.boolean().optional(),
});
export type TestsResults = z.infer<typeof TestsResults>;

/** `security/scan`: vulnerability counts, from `npm audit --json`. */
export const SecurityScan = z.looseObject({
  ...TaskRef,
  tool: z.string().max(100).optional(),
  vulnerabilities: z.looseObject({
    info: Count,
    low: Count,
    moderate: Count,
    high: Count,
    critical: Count,
    total: Count,
  }),
});
export type SecurityScan = z.infer<typeof SecurityScan>;

/** `deployment/complete`: a release is up, at `url`. */
export const DeploymentComplete = z.looseObject({
  ...TaskRef,
  url: z.string().min(1).max(4_000),
  service: z.string().max(64).optional(),
  release: z.string().max(200).optional(),
  /** A rollback's deployment: the previous release is up again. */
  rolled_back: z.boolean().optional(),
});
export type DeploymentComplete = z.infer<typeof DeploymentComplete>;

/** `monitoring/health`: one health check's outcome. */
export const MonitoringHealth = z.looseObject({
  ...TaskRef,
  url: z.string().max(4_000),
  ok: z.boolean(),
  status: z.int().nullable(),
  duration_ms: z.number().min(0).optional(),
});
export type MonitoringHealth = z.infer<typeof MonitoringHealth>;

/** `monitoring/alerts`: something a person should look at. */
export const MonitoringAlert = z.looseObject({
  ...TaskRef,
  severity: z.enum(['info', 'warning', 'critical']),
  message: z.string().min(1).max(4_000),
  url: z.string().max(4_000).optional(),
  status: z.int().nullable().optional(),
});
export type MonitoringAlert = z.infer<typeof MonitoringAlert>;
