import type { Config } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import type { AgentHeartbeat, AgentRegister, AgentStatus } from '../protocol/messages.js';
import type { AgentRegistry } from './agent-registry.js';
import type { Scheduler } from './scheduler.js';

const GONE_AGENT_KEEP_MS = 10 * 60_000;
/**
 * Wills this close together are one event (a host, a network, a broker going down), not an
 * agent killed by its task: such deaths do not count against unacknowledged grants (§4.3).
 */
const TOGETHER_MS = 500;

/**
 * Which agents are alive, as their messages and Last Wills tell it (PROTOCOL §4): keeps the
 * registry current, and requeues what an agent held once it is gone for good.
 */
export class Presence {
  /** Agents whose Last Will fired, with when; settled by tick() after the grace period. */
  private readonly pendingWills = new Map<string, number>();
  /** When recent Wills fired (the last minute), to tell a lone death from many at once. */
  private willTimes: number[] = [];
  /** The hub's own connection: when it last dropped and last came back (0: never). */
  private disconnectedAt = 0;
  private reconnectedAt = 0;

  constructor(
    private readonly registry: AgentRegistry,
    private readonly scheduler: Scheduler,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  recordRegistration(agentId: string, register: AgentRegister): void {
    const agent = this.registry.touch(agentId, register.role, this.now());
    this.registry.registered(agent, register.concurrency);
    agent.sandbox = register.sandbox ?? agent.sandbox;
    agent.settledInGrant = register.settled_in_grant === true;
    this.scheduler.refreshReady(agent);
    this.logger.info({ agentId: agent.agentId, role: agent.role }, 'agent registered');
  }

  /** What a heartbeat says besides capacity, which the scheduler takes (Scheduler.reportCapacity). */
  recordHeartbeat(agentId: string, heartbeat: AgentHeartbeat): void {
    const agent = this.registry.touch(agentId, heartbeat.role, this.now());
    agent.lastHeartbeatAt = this.now();
    agent.uptimeS = heartbeat.uptime;
    agent.memory = { rss: heartbeat.memory.rss, heapUsed: heartbeat.memory.heapUsed };
    agent.usage = heartbeat.usage ?? null;
    agent.sandbox = heartbeat.sandbox ?? agent.sandbox;
  }

  recordStatus(agentId: string, status: AgentStatus): void {
    const agent = this.registry.touch(agentId, status.role, this.now());
    agent.state = status.state;
    this.scheduler.refreshReady(agent);
  }

  /** The agent's retained status was cleared: its Last Will (or its goodbye) fired. */
  noteWill(agentId: string): void {
    // A will can also fire for an agent that lives on — a restarted broker publishes the wills of
    // every connection it lost, a network blip ends a connection the agent then re-opens — so the
    // verdict waits `willGraceMs` for the agent to be heard from (PROTOCOL §4).
    const now = this.now();
    this.pendingWills.set(agentId, now);
    this.willTimes = this.willTimes.filter((at) => now - at < 60_000);
    this.willTimes.push(now);
  }

  /** The hub lost its broker connection: no one can be heard from until it is back. */
  noteDisconnect(at: number): void {
    this.disconnectedAt = at;
  }

  /** Back on the broker: agents get a full grace from now to be heard again (PROTOCOL §4.3). */
  noteReconnect(at: number): void {
    this.reconnectedAt = at;
  }

  /** Give up on agents not heard from within the grace period after their Last Will. */
  settleWills(now: number): void {
    for (const [agentId, firedAt] of this.pendingWills) {
      // A Will from before an outage of the hub's own connection: its grace starts at the
      // reconnect, since until then no agent could have been heard.
      if (now - Math.max(firedAt, this.reconnectedAt) < this.config.willGraceMs) continue;
      this.pendingWills.delete(agentId);
      const agent = this.registry.get(agentId);
      // Its current status wins over the Will: any message of it since (register, status,
      // heartbeat, claim) says it lives.
      if (agent && agent.lastSeenAt > firedAt) {
        this.logger.info({ agentId }, 'agent came back after its Last Will; it keeps its tasks');
        continue;
      }
      this.markGone(agentId, 'agent connection lost (Last Will)', true, this.diedAlone(firedAt));
    }
  }

  /**
   * Whether a death may be the task's doing even if its grant was never acknowledged: the
   * hub's own connection held from before the Will until now (the broker stayed up) and no
   * other agent's Will fired with it.
   */
  private diedAlone(firedAt: number): boolean {
    const window = firedAt - this.config.willGraceMs;
    if (this.disconnectedAt >= window || this.reconnectedAt >= window) return false;
    const together = this.willTimes.filter((at) => Math.abs(at - firedAt) <= TOGETHER_MS);
    return together.length <= 1;
  }

  /** Requeue what the agent held (see Scheduler.requeueHeld) and hand it to the others. */
  markGone(agentId: string, reason: string, crashed: boolean, alone = false): void {
    const wasGone = this.registry.get(agentId)?.state === 'gone';
    this.registry.markGone(agentId);
    const requeued = this.scheduler.requeueHeld(agentId, reason, crashed, alone);
    if (requeued > 0 || !wasGone) {
      this.logger.info({ agentId, requeued }, reason);
    }
  }

  pruneGone(now: number): void {
    this.registry.prune(now, GONE_AGENT_KEEP_MS);
  }
}
