import { z } from 'zod';

/**
 * The two kinds of work a task may carry besides `commands` and `prompt` (PROTOCOL §17.4): a
 * service the agent keeps running after the task, and an HTTP check the agent makes itself. Each
 * shape is written once; the wire takes it loose (unknown fields kept, SPEC §2), a flow file
 * strict (a misspelt key is a mistake to name, not to ignore).
 */

/**
 * A name of a step, a variable or an output: what `${{ steps.x.outputs.y }}` can name. Not
 * `__proto__`, which an object literal or an assignment would take for its prototype.
 */
export const NAME_PATTERN = /^(?!__proto__$)[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

export const SERVICE_SHAPE = {
  /** One running instance per name and agent: a new one replaces the old once it answers. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be 1-64 letters, digits, ".", "_" or "-"'),
  /** Runs like a task's command (the role's policy, bash in its sandbox), with $PORT set. */
  command: z.string().min(1).max(10_000),
  /** Asked over HTTP until the service answers at all (any status): then it is up. */
  ready_path: z
    .string()
    .max(2_000)
    .regex(/^\/\S*$/, 'must be a path starting with "/"')
    .default('/'),
  /** How long it may take to answer before the task fails. */
  ready_timeout_ms: z.int().min(100).max(600_000).default(30_000),
};

export const HTTP_CHECK_SHAPE = {
  /** http:// or https://, no user:password; rendered from `${{ … }}` before it is checked. */
  url: z.string().min(1).max(4_000),
  expect_status: z.int().min(100).max(599).default(200),
  /** Text the answer's body must contain. */
  expect_body: z.string().min(1).max(1_000).optional(),
  /** Tries before the check fails, `interval_ms` apart. */
  attempts: z.int().min(1).max(100).default(3),
  interval_ms: z.int().min(0).max(600_000).default(1_000),
  /** Per request. */
  timeout_ms: z.int().min(100).max(120_000).default(5_000),
};

export const ServiceSpec = z.looseObject(SERVICE_SHAPE);
export type ServiceSpec = z.infer<typeof ServiceSpec>;

export const HttpCheckSpec = z.looseObject(HTTP_CHECK_SHAPE);
export type HttpCheckSpec = z.infer<typeof HttpCheckSpec>;

/**
 * Why an HTTP check may not ask `url`, or undefined: http or https only, with a host, and no
 * user:password (a check sends nothing of the agent's; credentials in a URL would travel in
 * results and events).
 */
export function httpUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url}" is not a URL (expected e.g. http://127.0.0.1:8080/health)`;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return `"${url}" is not http:// or https://`;
  }
  if (parsed.username || parsed.password) {
    return `"${url}" carries a user name or password; a health check sends no credentials`;
  }
  return undefined;
}
