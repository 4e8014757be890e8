import type { ServiceSpec } from '../protocol/step-specs.js';
import type { ExecutionContext, Outcome } from './execute-task.js';
import { authorizeCommand } from './guarded-command.js';
import { describeTampering } from '../tools/protected-files.js';
import { ServiceSupervisor, type StartedService } from './service-supervisor.js';
import { SandboxRefusal, type Sandbox } from '../tools/shell/sandbox.js';

/**
 * A task's `service` (PROTOCOL §17.4), after its commands: the command passes the role's policy
 * like any other, then runs in the role's sandbox with `PORT` (a free loopback port) and `HOST`
 * set, and is kept running by the agent once it answers on `ready_path`.
 */
export async function runService(
  spec: ServiceSpec,
  taskId: string,
  cwd: string,
  env: Record<string, string>,
  context: ExecutionContext,
): Promise<{ ok: true; service: StartedService } | Extract<Outcome, { ok: false }>> {
  if (!context.services) {
    return { ok: false, retryable: false, error: 'this agent does not run services' };
  }
  // In a network namespace of its own the service would answer no one outside it.
  if (context.sandbox.mode === 'bwrap' && !context.policy.network) {
    return {
      ok: false,
      retryable: false,
      error: `service ${spec.name}: this role's sandbox has no network (shellPolicies.<role>.network), so nothing outside it could reach the service; run service steps on a role with network, such as deployment`,
    };
  }
  const refusal = await authorizeCommand(spec.command, cwd, context);
  if (refusal) {
    return {
      ok: false,
      retryable: false,
      error: `service ${spec.name}: \`${spec.command}\` ${refusal.why}`,
      result: { refused: { command: spec.command, ...refusal.verdict } },
    };
  }
  const port = await ServiceSupervisor.freePort();
  let prepared: ReturnType<Sandbox['prepare']>;
  try {
    prepared = context.sandbox.prepare({
      command: spec.command,
      cwd,
      workspace: context.workspace,
      readOnly: context.policy.readOnly,
      network: context.policy.network,
      env: { ...env, PORT: String(port), HOST: '127.0.0.1' },
    });
  } catch (error) {
    if (!(error instanceof SandboxRefusal)) throw error;
    return {
      ok: false,
      retryable: true,
      error: `service ${spec.name} not started: the sandbox will not start it: ${error.message}`,
    };
  }
  context.progress(`starting service ${spec.name} on port ${port}: ${spec.command}`);
  // From its start to its end, sheri's own files it could create are watched as a command's
  // are (PROTOCOL §16.2): moved aside when it ends, and a marker stays while it runs.
  let endWatch = (): void => undefined;
  const lifetime = new Promise<void>((resolve) => (endWatch = resolve));
  void context.guard
    ?.around(() => lifetime)
    .then(({ created, displaced }) => {
      if (created.length > 0 || displaced.length > 0)
        context.reportTamper(spec.command, describeTampering(created, displaced));
    })
    .catch(() => undefined);
  try {
    const service = await context.services.start({
      name: spec.name,
      prepared,
      port,
      cwd,
      readyPath: spec.ready_path,
      readyTimeoutMs: spec.ready_timeout_ms,
      taskId,
      signal: context.signal,
    });
    void service.ended.then(endWatch);
    context.progress(
      `service ${spec.name} answers at ${service.url}${service.replaced ? ` (replaced ${service.replaced})` : ''}`,
      100,
    );
    return { ok: true, service };
  } catch (error) {
    endWatch();
    return {
      ok: false,
      retryable: true,
      error: `service ${spec.name}: ${(error as Error).message}`,
    };
  }
}
