import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import type { Logger } from '../logging/logger.js';
import { unwatchGroup, watchGroup } from '../tools/shell/reaper.js';
import type { PreparedCommand } from '../tools/shell/sandbox.js';

/** Output of a service kept for its failure message and `sheri agents`: the tail. */
const OUTPUT_TAIL_CHARS = 8_192;
const STOP_GRACE_MS = 3_000;
const READY_POLL_MS = 100;

/** A service that answers: where, and which instance it replaced. */
export interface StartedService {
  name: string;
  url: string;
  port: number;
  pid: number;
  /** The URL of the instance of the same name it replaced (stopped once this one answered). */
  replaced?: string;
  /** Settles when this instance has ended. */
  ended: Promise<void>;
}

export interface ServiceStart {
  name: string;
  /** The program `Sandbox.prepare` made of the service's command line (with PORT in its env). */
  prepared: PreparedCommand;
  port: number;
  cwd: string;
  readyPath: string;
  readyTimeoutMs: number;
  taskId: string;
  signal: AbortSignal;
  /** Called with its exit once it ends, however it ends. */
  onExit?: (exit: { code: number | null; signal: string | null; output: string }) => void;
}

/**
 * The services an agent keeps running beyond the task that started them (PROTOCOL §17.4): a
 * deploy step's server. Each runs as a command does — bash in the role's sandbox, in its own
 * process group known to the reaper, `--die-with-parent` — but is not ended with the task: it
 * lives until a newer instance of its name answers, or the agent stops (its goodbye stops them
 * all; a crash takes them down with it). One instance per name per agent.
 */
export class ServiceSupervisor {
  private readonly current = new Map<string, ServiceInstance>();
  private readonly starting = new Set<ServiceInstance>();
  private closed = false;

  constructor(private readonly logger: Logger) {}

  /** A free port on loopback for the next service (the kernel's; asked, then let go). */
  static async freePort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  /**
   * Start the service and wait until it answers HTTP on `readyPath` (any status: up, not
   * necessarily healthy — a health check is a step of its own). Then it replaces the running
   * instance of its name, which is stopped. Throws, with the service's output, if it exits or
   * stays silent past the deadline, or the task is canceled; it is stopped then.
   */
  async start(request: ServiceStart): Promise<StartedService> {
    if (this.closed) throw new Error('the agent is stopping; it starts no service');
    const instance = ServiceInstance.spawn(request, this.logger);
    this.starting.add(instance);
    try {
      await instance.waitUntilUp(request);
    } catch (error) {
      await instance.stop();
      throw error;
    } finally {
      this.starting.delete(instance);
    }
    if (this.closed) {
      await instance.stop();
      throw new Error('the agent is stopping; the service was stopped');
    }
    const previous = this.current.get(request.name);
    this.current.set(request.name, instance);
    void instance.exited.then(() => {
      if (this.current.get(request.name) === instance) this.current.delete(request.name);
    });
    if (previous) await previous.stop();
    this.logger.info(
      { event: 'service-up', service: request.name, url: instance.url, taskId: request.taskId },
      `service ${request.name} answers at ${instance.url}${previous ? ` (replaced ${previous.url})` : ''}`,
    );
    return {
      name: request.name,
      url: instance.url,
      port: request.port,
      pid: instance.pid,
      ...(previous ? { replaced: previous.url } : {}),
      ended: instance.exited,
    };
  }

  /** The services running now. */
  list(): { name: string; url: string; pid: number; taskId: string; since: number }[] {
    return [...this.current].map(([name, instance]) => ({
      name,
      url: instance.url,
      pid: instance.pid,
      taskId: instance.taskId,
      since: instance.since,
    }));
  }

  /** Stop every service, and any still starting: the agent is leaving. */
  async stopAll(): Promise<void> {
    this.closed = true;
    const all = [...this.current.values(), ...this.starting];
    this.current.clear();
    await Promise.all(all.map((instance) => instance.stop()));
  }
}

class ServiceInstance {
  readonly since = Date.now();
  private output = '';
  readonly exited: Promise<void>;
  private ended = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly prepared: PreparedCommand,
    readonly url: string,
    readonly taskId: string,
    onExit: ServiceStart['onExit'],
    logger: Logger,
    name: string,
  ) {
    const keep = (chunk: string): void => {
      this.output = (this.output + chunk).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout?.setEncoding('utf8').on('data', keep);
    child.stderr?.setEncoding('utf8').on('data', keep);
    this.exited = once(child, 'close').then(([code, signal]) => {
      this.ended = true;
      if (child.pid !== undefined) unwatchGroup(child.pid);
      prepared.cgroup?.destroy();
      logger.info({ event: 'service-exit', service: name, code, signal }, `service ${name} ended`);
      onExit?.({
        code: code as number | null,
        signal: signal as string | null,
        output: this.output,
      });
    });
  }

  static spawn(request: ServiceStart, logger: Logger): ServiceInstance {
    const { prepared } = request;
    const child = spawn(prepared.file, prepared.args, {
      cwd: request.cwd,
      env: prepared.env,
      detached: true, // its own process group, stopped as one
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.on('error', () => undefined); // reported as its exit
    if (child.pid !== undefined) watchGroup(child.pid);
    const url = `http://127.0.0.1:${request.port}`;
    return new ServiceInstance(
      child,
      prepared,
      url,
      request.taskId,
      request.onExit,
      logger,
      request.name,
    );
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** The last of what it printed, for a failure message. */
  get outputTail(): string {
    return this.output.trim();
  }

  async waitUntilUp(request: ServiceStart): Promise<void> {
    const deadline = Date.now() + request.readyTimeoutMs;
    const target = `${this.url}${request.readyPath}`;
    for (;;) {
      if (request.signal.aborted) throw new Error('canceled before the service answered');
      if (this.ended) {
        const { exitCode, signalCode } = this.child;
        throw new Error(
          `the service exited (${signalCode ?? `code ${exitCode}`}) before it answered on ${target}${this.tail()}`,
        );
      }
      if (await answers(target, request.signal)) return;
      if (Date.now() > deadline) {
        throw new Error(
          `the service did not answer on ${target} within ${request.readyTimeoutMs} ms (ready_timeout)${this.tail()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
  }

  private tail(): string {
    const tail = this.outputTail;
    return tail ? `; its output:\n${tail.slice(-2_000)}` : '; it printed nothing';
  }

  /** SIGTERM to its group, SIGKILL after a grace; whatever it left in its group goes too. */
  async stop(): Promise<void> {
    const pid = this.child.pid;
    if (!this.ended) {
      signalGroup(pid, 'SIGTERM');
      const gone = await Promise.race([
        this.exited.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(resolve, STOP_GRACE_MS, false).unref()),
      ]);
      if (!gone) signalGroup(pid, 'SIGKILL');
    }
    signalGroup(pid, 'SIGKILL');
    await this.exited;
  }
}

/** Whether anything answers HTTP at `url` (any status). */
async function answers(url: string, signal: AbortSignal): Promise<boolean> {
  try {
    const response = await fetch(url, {
      redirect: 'manual',
      signal: AbortSignal.any([signal, AbortSignal.timeout(1_000)]),
    });
    await response.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
