import { hostname } from 'node:os';
import type { Config } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import type {
  AgentHeartbeat,
  AgentRegister,
  ClaimRequest,
  SandboxReport,
  TaskRef,
  Usage,
} from '../protocol/messages.js';
import { typesForRole } from '../protocol/task-types.js';
import { subscriptionsFor, topicFor } from '../protocol/topic-table.js';
import type { Bus } from '../transport/bus.js';
import type { RouteHandlers, RouteOptions } from '../transport/topic-router.js';

/**
 * How long a grant may go unmentioned before the agent claims, listing it: its acknowledgement
 * (PROTOCOL §4.1). Most attempts say something sooner — their first progress, their outcome —
 * and that is acknowledgement enough, so most grants cost no claim.
 */
export const ACK_WINDOW_MS = 50;

export interface SessionIdentity {
  config: Config;
  agentId: string;
  role: string;
  concurrency: number;
  version?: string;
  logger: Logger;
}

/** What the session reports of the rest of the agent. */
export interface SessionState {
  free(): number;
  running(): TaskRef[];
  usage(): Usage | undefined;
  sandbox(): SandboxReport;
  draining(): boolean;
  /** The broker acknowledged a message listing `refs`, sent at `sentAt` (PROTOCOL §4.7). */
  renewed(refs: readonly TaskRef[], sentAt: number): void;
  /** The clock `renewed` is in. */
  clock(): number;
}

/**
 * An agent's presence in the swarm (PROTOCOL §2.2, §3.2, §4): what it subscribes to, its
 * announcement (register, retained status, claim, first heartbeat) at start and after every
 * reconnect, its heartbeats, its claims — and answers to what concerns it: the hub coming back
 * (claim again), its own status cleared while it lives (announce again).
 */
export class AgentSession {
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private ackTimer: NodeJS.Timeout | undefined;
  private readonly unacked = new Set<string>();
  private joined = false;
  /** The `since` of the last online hub status seen: a different one is a hub that restarted. */
  private hubSince: string | undefined;
  readonly startedAt = Date.now();

  constructor(
    private readonly bus: Bus,
    private readonly identity: SessionIdentity,
    private readonly state: SessionState,
  ) {}

  get statusTopic(): string {
    return topicFor('agentStatus', { agent: this.identity.agentId });
  }

  /**
   * Its own topics, from the table: its grants, cancels and confirmations, the hub's status, its
   * own status.
   */
  subscriptions(): Record<string, 0 | 1> {
    return subscriptionsFor(
      'agent',
      ['tasksAssigned', 'tasksCancel', 'tasksSettled', 'hubStatus', 'agentStatus'],
      { agent: this.identity.agentId },
    );
  }

  routes(): { handlers: RouteHandlers; options: RouteOptions } {
    return {
      handlers: {
        // The hub is back (or we just joined): ask again, since a new hub knows no one's room —
        // nor, unless we register again, our concurrency, which bounds the room (PROTOCOL §3.3).
        hubStatus: (message) => {
          const { state, since } = message.payload;
          if (state !== 'online') return;
          const restarted = this.hubSince !== undefined && since !== this.hubSince;
          this.hubSince = since;
          if (restarted && this.joined) void this.register();
          void this.claim();
        },
      },
      options: {
        // Our presence was cleared while we live: a Last Will of one of our earlier connections
        // (one the broker dropped, or one taken over by our reconnect). Say we are here, within
        // the hub's grace period.
        empty: {
          agentStatus: (params) => {
            if (params.agent !== this.identity.agentId) return;
            if (this.joined && !this.state.draining()) void this.announce();
          },
        },
        // A bad status is the hub's to report (it reads its own), not every agent's.
        quiet: ['hubStatus'],
      },
    };
  }

  async join(): Promise<void> {
    await this.bus.subscribe(this.subscriptions());
    await this.announce();
    this.joined = true;
    this.heartbeatTimer = setInterval(
      () => void this.heartbeat(),
      this.identity.config.heartbeatMs,
    );
    // After a reconnect (mqtt.js resubscribes first), announce again.
    this.bus.client.on('connect', () => {
      if (this.joined && !this.state.draining()) void this.announce();
    });
  }

  /** Register, mark presence, and ask for work; again after every reconnect. */
  async announce(): Promise<void> {
    const { role } = this.identity;
    try {
      await this.bus.publish(topicFor('agentsRegister'), this.registration());
      await this.bus.publish(
        this.statusTopic,
        { state: 'online', role, since: new Date(this.startedAt).toISOString() },
        { retain: true },
      );
      await this.claim();
      // The first heartbeat at once, so the swarm sees uptime and memory from the start.
      await this.heartbeat();
    } catch (error) {
      this.identity.logger.warn({ err: error }, 'could not announce; will retry on reconnect');
    }
  }

  /** Register again, with a hub that started since we did (sent before the claim that follows). */
  async register(): Promise<void> {
    await this.publishSafely(topicFor('agentsRegister'), this.registration());
  }

  private registration(): AgentRegister {
    const { role, concurrency, config, version } = this.identity;
    return {
      role,
      concurrency,
      types: typesForRole(config.taskTypes, role),
      pid: process.pid,
      hostname: hostname(),
      sandbox: this.state.sandbox(),
      // Our results' confirmations may come in our next grant (PROTOCOL §4.8).
      settled_in_grant: true,
      ...(version ? { version } : {}),
    };
  }

  /** A grant was accepted: unless the attempt says something first, a claim acknowledges it. */
  granted(taskId: string, attempt: number): void {
    this.unacked.add(`${taskId}#${attempt}`);
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = undefined;
      if (this.unacked.size === 0) return;
      this.unacked.clear();
      void this.claim();
    }, ACK_WINDOW_MS);
  }

  /** The agent published something about this attempt: the hub knows it has it. */
  spoke(taskId: string, attempt: number): void {
    this.unacked.delete(`${taskId}#${attempt}`);
  }

  /** "I have `free` slots; these are the attempts I run." (PROTOCOL §3.2) */
  async claim(): Promise<void> {
    const claim: ClaimRequest = { free: this.state.free(), running: this.state.running() };
    this.identity.logger.debug(
      { free: claim.free, running: claim.running.length },
      `claim: ${claim.free} free, renewing ${claim.running.length} lease(s)`,
    );
    const sentAt = this.state.clock();
    if (await this.publishSafely(topicFor('tasksClaim'), claim)) {
      this.state.renewed(claim.running, sentAt);
    }
  }

  async heartbeat(): Promise<void> {
    const memory = process.memoryUsage();
    const usage = this.state.usage();
    const beat: AgentHeartbeat = {
      status: this.state.draining() ? 'draining' : 'alive',
      uptime: (Date.now() - this.startedAt) / 1000,
      memory: { rss: memory.rss, heapTotal: memory.heapTotal, heapUsed: memory.heapUsed },
      role: this.identity.role,
      running: this.state.running(),
      free: this.state.free(),
      sandbox: this.state.sandbox(),
      ...(usage ? { usage } : {}),
    };
    // QoS 1 while it renews leases: the broker's PUBACK is what the agent's lease clock counts.
    const sentAt = this.state.clock();
    const qos = beat.running.length > 0 ? 1 : 0;
    if ((await this.publishSafely(topicFor('agentsHeartbeat'), beat, qos)) && qos === 1) {
      this.state.renewed(beat.running, sentAt);
    }
  }

  /** No more heartbeats nor acknowledgements (a stop, a crash). */
  quiet(): void {
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  /** Goodbye: what it hands back, then its retained status cleared (PROTOCOL §4.4). */
  async leave(reason: string, handedBack: string[]): Promise<void> {
    await this.publishSafely(topicFor('agentsShutdown'), { reason, handed_back: handedBack });
    await this.bus.publishRaw(this.statusTopic, '', { retain: true });
  }

  /** Publish; false (and logged) when it could not be sent. */
  async publishSafely(topic: string, payload: unknown, qos: 0 | 1 = 1): Promise<boolean> {
    try {
      await this.bus.publish(topic, payload, { qos });
      return true;
    } catch (error) {
      this.identity.logger.warn({ err: error, topic }, 'publish failed');
      return false;
    }
  }
}
