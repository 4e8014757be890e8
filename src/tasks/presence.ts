import type { Config } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import type { AgentHeartbeat, AgentRegister, AgentStatus } from '../protocol/messages.js';
import type { AgentRegistry } from './agent-registry.js';
import type { Scheduler } from './scheduler.js';

const GONE_AGENT_KEEP_MS = 10 * 60_000;

/**
 * Which agents are alive, as their messages and Last Wills tell it (PROTOCOL §4): keeps the
 * registry current, and requeues what an agent held once it is gone for good.
 */
export class Presence {
  /** Agents whose Last Will fired, with when; settled by tick() after the grace period. */
  private readonly pendingWills = new Map<string, number>();

  constructor(
    private readonly registry: AgentRegistry,
    private readonly scheduler: Scheduler,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  recordRegistration(agentId: string, register: AgentRegister): void {
    const agent = this.registry.touch(agentId, register.role, this.now());
    agent.concurrency = register.concurrency;
    agent.sandbox = register.sandbox ?? agent.sandbox;
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
    this.pendingWills.set(agentId, this.now());
  }

  /** Give up on agents not heard from within the grace period after their Last Will. */
  settleWills(now: number): void {
    for (const [agentId, firedAt] of this.pendingWills) {
      if (now - firedAt < this.config.willGraceMs) continue;
      this.pendingWills.delete(agentId);
      const agent = this.registry.get(agentId);
      if (agent && agent.lastSeenAt > firedAt) {
        this.logger.info({ agentId }, 'agent came back after its Last Will; it keeps its tasks');
        continue;
      }
      this.markGone(agentId, 'agent connection lost (Last Will)', true);
    }
  }

  /** Requeue what the agent held (see Scheduler.requeueHeld) and hand it to the others. */
  markGone(agentId: string, reason: string, crashed: boolean): void {
    const wasGone = this.registry.get(agentId)?.state === 'gone';
    this.registry.markGone(agentId);
    const requeued = this.scheduler.requeueHeld(agentId, reason, crashed);
    if (requeued > 0 || !wasGone) {
      this.logger.info({ agentId, requeued }, reason);
    }
  }

  pruneGone(now: number): void {
    this.registry.prune(now, GONE_AGENT_KEEP_MS);
  }
}
