import type { Config } from '../config/load.js';
import { checkFlow } from '../flows/check-flow.js';
import { formatPath } from '../flows/load-flow.js';
import type { Logger } from '../logging/logger.js';
import type { ProtocolErrorCode } from '../protocol/codec.js';
import { FlowDefinition, type FlowSubmit } from '../protocol/flow-messages.js';
import type { HubQuery, HubReply, TaskSpec } from '../protocol/messages.js';
import type { Received } from '../transport/bus.js';
import type { AgentRegistry } from './agent-registry.js';
import { FlowEngine } from './flow-engine.js';
import { flowDetail, flowList, scheduleList } from './flow-queries.js';
import type { Ledger } from './ledger.js';
import { MissingNeeds } from './needs-guard.js';
import { cronProblem } from './schedule-slots.js';
import { scheduleEntriesOf } from './schedule-entries.js';
import { Schedules } from './schedules.js';
import { omitKeys } from '../util/omit-keys.js';
import type { Scheduler } from './scheduler.js';
import type { SubmissionLimits } from './submission-limits.js';

/** The query kinds the flow desk answers (PROTOCOL §17.2, §17.3, §17.7). */
export const FLOW_QUERIES: readonly HubQuery['kind'][] = [
  'flows',
  'flow',
  'cancel_flow',
  'schedules',
  'unschedule',
];

/** Flow queries that change something: decided when they arrive, not when they are answered. */
export const FLOW_CHANGES: readonly HubQuery['kind'][] = ['cancel_flow', 'unschedule'];

export type Refuse = (
  code: ProtocolErrorCode,
  reason: string,
  extra?: Record<string, unknown>,
) => void;

/**
 * The hub's side of flows and schedules: takes `flows/new`, answers their queries, runs the
 * schedules and gives up on needs that never come, on the hub's tick. Decisions are the
 * engine's (flow-engine.ts) and the schedules' (schedules.ts); this reads the bus.
 */
export class FlowDesk {
  readonly engine: FlowEngine;
  readonly schedules: Schedules;
  private readonly missing: MissingNeeds;

  constructor(
    private readonly ledger: Ledger,
    private readonly scheduler: Scheduler,
    private readonly registry: AgentRegistry,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {
    this.engine = new FlowEngine(ledger, scheduler, registry, config, logger, now);
    this.schedules = new Schedules(
      ledger,
      {
        runTask: (spec, by) => this.runScheduledTask(spec, by),
        runFlow: (flow, by, name) => {
          if (this.engine.store.get(flow.flow_id)) return undefined; // this slot ran before a restart
          const full = this.queueFull(by, flow.steps.length);
          if (full) return full;
          this.engine.submit(flow, by, name);
          return undefined;
        },
      },
      logger,
      Math.max(2_000, 3 * config.leaseCheckMs),
    );
    this.missing = new MissingNeeds(ledger, config.missingNeedTimeoutMs, logger);
    scheduler.listener = this.engine;
  }

  /**
   * At the hub's start, once the scheduler holds the unfinished tasks: the config's schedules,
   * and every flow that was running carries on.
   */
  start(): void {
    this.schedules.syncConfig(scheduleEntriesOf(this.config), this.now());
    this.engine.restore();
  }

  tick(now: number): void {
    this.schedules.tick(now);
    for (const { task, reason } of this.missing.sweep(now)) {
      this.scheduler.abandon(task.taskId, reason);
    }
  }

  /** What flows and schedules decided this turn, inside the hub's transaction of the turn. */
  record(): void {
    this.engine.store.record();
    this.schedules.record();
  }

  /** The turn is recorded. */
  committed(): void {
    this.engine.store.committed();
    this.schedules.committed();
  }

  /** `flows/new` from an operator: checked again here (the bus is not the CLI), then recorded. */
  onFlowNew(message: Received<FlowSubmit>, limits: SubmissionLimits, refuse: Refuse): void {
    const flow = message.payload;
    const by = message.sender.name;
    const problems = checkFlow(flow, this.config.taskTypes);
    if (flow.schedule?.cron) {
      const problem = cronProblem(flow.schedule.cron, flow.schedule.timezone);
      if (problem) problems.push({ path: ['schedule', 'cron'], message: problem });
    }
    if (problems.length > 0) {
      return refuse(
        'SCHEMA_INVALID',
        `flow ${flow.flow_id} is refused: ${problems
          .slice(0, 5)
          .map((p) => `${formatPath(p.path)}: ${p.message}`)
          .join('; ')}`,
        { flow_id: flow.flow_id },
      );
    }
    const existing = this.engine.store.get(flow.flow_id);
    if (existing) {
      return refuse(
        'DUPLICATE_FLOW',
        `flow_id "${flow.flow_id}" was already submitted (now ${existing.state}); this submission is ignored`,
        { flow_id: flow.flow_id, state: existing.state },
      );
    }
    const full = this.queueFull(by, flow.steps.length);
    if (full) return refuse('QUEUE_FULL', full, { flow_id: flow.flow_id });
    const overRate = limits.take(by, Buffer.byteLength(JSON.stringify(flow)), this.now());
    if (overRate) return refuse('RATE_LIMITED', overRate, { flow_id: flow.flow_id });
    if (flow.schedule) {
      const schedule = flow.schedule;
      const definition = FlowDefinition.parse(omitKeys(flow, 'flow_id', 'schedule'));
      const registered = this.schedules.register(
        flow.name,
        schedule,
        { flow: definition },
        by,
        this.now(),
      );
      if (!registered.ok)
        return refuse(registered.code, registered.reason, { flow_id: flow.flow_id });
      return;
    }
    this.engine.submit(flow, by);
  }

  /** A flow query, or a change asked as one (`cancel_flow`, `unschedule`, as `prune` is). */
  answer(query: HubQuery, by: string): HubReply {
    const reply = (data: unknown): HubReply => ({ query_id: query.query_id, ok: true, data });
    const fail = (error: string): HubReply => ({ query_id: query.query_id, ok: false, error });
    switch (query.kind) {
      case 'flows': {
        const list = flowList(this.engine, query.limit ?? 100, query.state);
        return typeof list === 'string' ? fail(list) : reply({ flows: list });
      }
      case 'flow': {
        if (!query.flow_id) return fail('a flow query needs flow_id');
        const detail = flowDetail(
          query.flow_id,
          this.engine,
          this.ledger,
          this.registry,
          this.config.taskTypes,
        );
        return detail ? reply(detail) : fail(`no flow "${query.flow_id}" in the ledger`);
      }
      case 'cancel_flow': {
        if (!query.flow_id) return fail('cancel_flow needs flow_id');
        const done = this.engine.cancel(query.flow_id, by, query.reason);
        return done.ok
          ? reply({ flow_id: query.flow_id, canceled: done.canceled })
          : fail(done.error);
      }
      case 'schedules':
        return reply({
          now: new Date(this.now()).toISOString(),
          schedules: scheduleList(this.schedules, this.ledger, this.engine, this.now()),
        });
      case 'unschedule': {
        if (!query.name) return fail('unschedule needs name');
        const done = this.schedules.unregister(query.name);
        return done.ok ? reply({ name: query.name, removed: true }) : fail(done.reason);
      }
      default:
        return fail(`${query.kind} is not a flow query`);
    }
  }

  /** A heartbeat's or claim's running attempts: a canceled one is canceled again (§17.3). */
  remind(agentId: string, running: readonly { task_id: string; attempt: number }[]): void {
    this.engine.remind(agentId, running);
  }

  /** Retention (PROTOCOL §15.5) for flows: finished ones older than the tasks' limit go. */
  prune(before: number): number {
    return this.engine.store.prune(before);
  }

  private runScheduledTask(spec: TaskSpec, by: string): string | undefined {
    if (this.scheduler.find(spec.task_id)) return undefined; // recorded before a restart: this slot ran
    const full = this.queueFull(by, 1);
    if (full) return full;
    this.scheduler.admit(spec, by);
    return undefined;
  }

  /**
   * Why `by` may not add `count` more unfinished tasks (security.maxQueuedPerSubmitter), if it
   * may not: a schedule (`schedule:<name>`) too, whose runs would otherwise pile up without end
   * behind an agent that never comes.
   */
  private queueFull(by: string, count: number): string | undefined {
    const cap = this.config.security.maxQueuedPerSubmitter;
    const unfinished = this.scheduler.live.unfinishedBy(by);
    if (unfinished + count <= cap) return undefined;
    return `${by} would have more than ${cap} tasks blocked, queued or assigned with ${count} more (security.maxQueuedPerSubmitter; it has ${unfinished})`;
  }
}
