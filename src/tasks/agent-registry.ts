import type { SandboxReport, TaskRef, Usage } from '../protocol/messages.js';

export interface AgentView {
  agentId: string;
  role: string;
  state: 'online' | 'draining' | 'gone';
  /** As its `agents/register` said; undefined until this hub has heard one (PROTOCOL §3.3). */
  concurrency: number | undefined;
  /**
   * Free slots and running attempts as the agent last reported them (claim, heartbeat or an
   * outcome's capacity), free bounded by its registered concurrency (`boundFree`).
   */
  free: number;
  /** `free` as the agent reported it, before the bound. */
  reportedFree: number;
  running: TaskRef[];
  lastSeenAt: number;
  lastHeartbeatAt: number | null;
  registeredAt: number;
  uptimeS: number | null;
  memory: { rss: number; heapUsed: number } | null;
  /** Tokens and cost of the agent's LLM tasks, as its last heartbeat summed them. */
  usage: Usage | null;
  /** How its commands run, as it said in register or heartbeat. */
  sandbox: SandboxReport | null;
  /** When the hub last granted this agent a task. */
  lastGrantAt: number;
  /** Its registration said it reads confirmations in grants (PROTOCOL §4.8). */
  settledInGrant: boolean;
  /**
   * While it can take more (PROTOCOL §3.4): when it joined its role's line of ready agents (a
   * counter, not a time), so the one waiting longest is served first; 0 when not in line.
   */
  readySince: number;
}

/**
 * The hub's in-memory view of live agents. It needs no persistence: agents re-announce themselves
 * by heartbeat and claim, and re-claim when the hub's retained status comes back online.
 */
export class AgentRegistry {
  private readonly agents = new Map<string, AgentView>();
  /** Per role, the agents with room for more, in the order they became ready. */
  private readonly ready = new Map<string, Map<string, AgentView>>();
  private readyCount = 0;

  get(agentId: string): AgentView | undefined {
    return this.agents.get(agentId);
  }

  all(): AgentView[] {
    return [...this.agents.values()];
  }

  get size(): number {
    return this.agents.size;
  }

  values(): IterableIterator<AgentView> {
    return this.agents.values();
  }

  /**
   * Put the agent in its role's line of ready agents, or take it out. `again`: it was just served
   * and has room still, so it goes to the back of the line. O(1).
   */
  setReady(agent: AgentView, ready: boolean, again = false): void {
    const line = this.lineOf(agent.role);
    if (!ready) {
      if (agent.readySince) line.delete(agent.agentId);
      agent.readySince = 0;
      return;
    }
    if (agent.readySince && !again) return;
    line.delete(agent.agentId);
    agent.readySince = ++this.readyCount;
    line.set(agent.agentId, agent);
  }

  /** Role → its ready agents, the one waiting longest first. */
  readyLines(): ReadonlyMap<string, ReadonlyMap<string, AgentView>> {
    return this.ready;
  }

  private lineOf(role: string): Map<string, AgentView> {
    let line = this.ready.get(role);
    if (!line) {
      line = new Map();
      this.ready.set(role, line);
    }
    return line;
  }

  /** Create or refresh an agent from any message it sent. */
  touch(agentId: string, role: string, now: number): AgentView {
    let agent = this.agents.get(agentId);
    if (!agent) {
      agent = {
        agentId,
        role,
        state: 'online',
        concurrency: undefined,
        free: 0,
        reportedFree: 0,
        running: [],
        lastSeenAt: now,
        lastHeartbeatAt: null,
        registeredAt: now,
        uptimeS: null,
        memory: null,
        usage: null,
        sandbox: null,
        lastGrantAt: 0,
        settledInGrant: false,
        readySince: 0,
      };
      this.agents.set(agentId, agent);
    }
    if (agent.role !== role && agent.readySince) {
      // Its line is its role's: it waits in the new one from now.
      this.setReady(agent, false);
      agent.role = role;
      this.setReady(agent, true);
    }
    agent.role = role;
    agent.lastSeenAt = now;
    if (agent.state === 'gone') agent.state = 'online';
    return agent;
  }

  reportCapacity(
    agentId: string,
    role: string,
    free: number,
    running: TaskRef[],
    now: number,
  ): AgentView {
    const agent = this.touch(agentId, role, now);
    agent.running = running;
    agent.reportedFree = free;
    agent.free = boundFree(agent, free);
    return agent;
  }

  /**
   * What its registration says (PROTOCOL §3.3): its last report of room is judged again by it —
   * a registration may come after a claim (the hub reads claims at QoS 0, registrations at 1).
   */
  registered(agent: AgentView, concurrency: number): void {
    agent.concurrency = concurrency;
    agent.free = boundFree(agent, agent.reportedFree);
  }

  markGone(agentId: string): AgentView | undefined {
    const agent = this.agents.get(agentId);
    if (agent) {
      agent.state = 'gone';
      agent.free = 0;
      agent.reportedFree = 0;
      agent.running = [];
      this.setReady(agent, false);
    }
    return agent;
  }

  /** Forget agents gone for longer than `keepMs`, so the registry does not grow without bound. */
  prune(now: number, keepMs: number): void {
    for (const [id, agent] of this.agents) {
      if (agent.state === 'gone' && now - agent.lastSeenAt > keepMs) {
        this.setReady(agent, false);
        this.agents.delete(id);
      }
    }
  }
}

/** The room of an agent this hub has not heard register (yet): one task at a time. */
export const UNREGISTERED_CONCURRENCY = 1;

/**
 * The free slots an agent reports, never more than its registered concurrency leaves beside
 * what it says it runs — what an agent that counts right reports anyway (`TaskRunner.free`), so
 * only a wrong or forged report is cut. Before it registers, its concurrency is taken as 1.
 */
export function boundFree(agent: AgentView, free: number): number {
  const concurrency = agent.concurrency ?? UNREGISTERED_CONCURRENCY;
  return Math.min(free, Math.max(0, concurrency - agent.running.length));
}

/**
 * How many more tasks to grant an agent: its reported free slots, less the grants it had not yet
 * seen when it reported them (assigned to it by the ledger but absent from its running list).
 */
export function demandOf(agent: AgentView, assignedAttempts: readonly TaskRef[]): number {
  if (agent.state !== 'online') return 0;
  const running = new Set(agent.running.map((ref) => `${ref.task_id}#${ref.attempt}`));
  const unseen = assignedAttempts.filter((ref) => !running.has(`${ref.task_id}#${ref.attempt}`));
  return Math.max(0, agent.free - unseen.length);
}
