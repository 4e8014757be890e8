// Case 5: what idle agents cost the hub. One dispatch's cost in the scheduler (the hub's
// decisions, with its SQLite ledger on disk and an injected clock) with 10 … 5,000 idle agents
// holding room, and the hub process's CPU with as many real idle replicas connected.
import { join } from 'node:path';
import { Ledger } from '../../../dist/src/tasks/ledger.js';
import { AgentRegistry } from '../../../dist/src/tasks/agent-registry.js';
import { Scheduler } from '../../../dist/src/tasks/scheduler.js';
import { DEFAULT_TASK_TYPES } from '../../../dist/src/protocol/task-types.js';
import { silentLogger } from '../../../dist/src/logging/logger.js';
import { cpuSeconds, hasCommand, log, now, sleep } from '../lib.mjs';
import { startSwarm, task } from '../sheri-swarm.mjs';
import { median } from '../stats.mjs';

const SIZES = [10, 100, 1_000, 5_000];
const SETTINGS = {
  leaseMs: 30_000,
  maxAttempts: 3,
  retryBaseMs: 1_000,
  retryMaxMs: 60_000,
  maxPayloadBytes: 256 * 1024,
  taskTypes: DEFAULT_TASK_TYPES,
};

export const idle = {
  id: '5',
  name: 'idle',
  title: 'Hub cost with 10, 100, 1,000 and 5,000 idle agents',
  describe: [
    "_One dispatch_: the hub's scheduler alone, as the hub drives it in one turn (`src/tasks/scheduler.ts` with its `Ledger` on disk, an injected clock, no bus): admit one task, `dispatch()`, record the batch in SQLite, render the grant — with N idle agents of role testing each holding room, so each dispatch picks among N. The median over 2,000 tasks (500 with `--quick`); between two, untimed, the agent fails its task and reports its room again. _A heartbeat_: one idle agent reports its room, then `dispatch()` with nothing queued.",
    '',
    "_Hub CPU_: mosquitto (the embedded broker where it is missing) and `sheri hub`, then one `sheri agent --replicas N --sandbox none` process; once all N are registered, the hub's CPU time over 10 s (5 s with `--quick`; the default heartbeat is 10 s, so every agent heartbeats about once in it), in % of one core. _Idle dispatch_: then 20 dispatch-only tasks one at a time, submit → grant seen (p50). `--quick` runs the replicas at 10 and 100 only.",
  ].join('\n'),
  async run({ quick, dir }) {
    const metrics = [];
    // Warm-up, discarded: the first sizes would otherwise pay for the JIT and look dearer.
    schedulerCost(join(dir, 'ledger-warm-up.sqlite'), SIZES[0], quick ? 500 : 2_000);
    for (const agents of SIZES) {
      const cost = schedulerCost(join(dir, `ledger-${agents}.sqlite`), agents, quick ? 500 : 2_000);
      metrics.push(
        {
          key: `idle.${agents}.dispatch`,
          label: `${agents} idle agents: one dispatch (scheduler + ledger)`,
          unit: 'µs',
          value: cost.dispatchUs,
        },
        {
          key: `idle.${agents}.heartbeat`,
          label: `${agents} idle agents: one heartbeat (scheduler)`,
          unit: 'µs',
          value: cost.heartbeatUs,
        },
      );
    }
    const extras = [];
    for (const agents of quick ? SIZES.slice(0, 2) : SIZES) {
      let real;
      try {
        real = await hubWithReplicas(
          join(dir, `replicas-${agents}`),
          agents,
          quick ? 5_000 : 10_000,
        );
      } catch (error) {
        // A size that cannot be measured is said, and the others still are.
        extras.push(
          `Not measured with ${agents} replicas: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}.`,
        );
        continue;
      }
      metrics.push(
        {
          key: `idle.${agents}.hub-cpu`,
          label: `${agents} idle replicas: hub CPU`,
          unit: '% of a core',
          value: real.hubPct,
          ...(agents === 1_000 ? { goal: { op: '<=', target: 5, text: '≤ 5 % of a core' } } : {}),
        },
        {
          key: `idle.${agents}.broker-cpu`,
          label: `${agents} idle replicas: broker CPU`,
          unit: '% of a core',
          value: real.brokerPct,
        },
        {
          key: `idle.${agents}.agents-cpu`,
          label: `${agents} idle replicas: their process's CPU`,
          unit: '% of a core',
          value: real.agentsPct,
        },
        {
          key: `idle.${agents}.registered`,
          label: `${agents} idle replicas: all registered (${real.broker})`,
          unit: 's',
          value: real.registeredS,
        },
        {
          key: `idle.${agents}.grant-p50`,
          label: `${agents} idle replicas: submit → grant p50`,
          unit: 'ms',
          value: real.grantP50,
        },
      );
    }
    return { metrics, extras };
  },
  /** At 5,000 agents within 2× of at 10 (the goal), from the medians. */
  derive(rows) {
    const at = (agents) => rows.find((row) => row.key === `idle.${agents}.dispatch`)?.median;
    const ratio = at(5_000) / at(10);
    if (!Number.isFinite(ratio)) return [];
    return [
      {
        key: 'idle.dispatch-ratio',
        label: 'one dispatch at 5,000 idle agents / at 10',
        unit: '×',
        values: [ratio],
        median: ratio,
        goal: { op: '<=', target: 2, text: '≤ 2 ×' },
      },
    ];
  },
};

/** Median µs of one dispatch turn and of one idle heartbeat, with `agents` agents holding room. */
export function schedulerCost(ledgerPath, agents, tasks) {
  let clock = 1_700_000_000_000;
  const ledger = new Ledger(ledgerPath);
  try {
    const registry = new AgentRegistry();
    const scheduler = new Scheduler(ledger, registry, SETTINGS, silentLogger(), () => clock);
    const ids = Array.from({ length: agents }, (_, i) => `idle-${i + 1}`);
    for (const id of ids) scheduler.reportCapacity(id, 'testing', 1, []);
    const turn = () => {
      scheduler.dispatch();
      const batch = scheduler.takeBatch();
      ledger.apply(batch.decisions);
      scheduler.committed();
      for (const message of batch.messages) message.payload();
      return batch;
    };
    turn();
    const dispatches = [];
    const beats = [];
    for (let i = 0; i < tasks; i++) {
      clock += 1;
      const t0 = performance.now();
      scheduler.admit(task('dispatch'), 'operator');
      const batch = turn();
      dispatches.push(performance.now() - t0);
      const granted = batch.decisions.find((decision) => decision.kind === 'grant');
      if (!granted)
        throw new Error(`no grant among ${agents} idle agents: ${JSON.stringify(batch.decisions)}`);
      const { taskId } = granted;
      const { agentId } = granted;
      const live = scheduler.attemptOf({ task_id: taskId, attempt: granted.attempt }, agentId);
      scheduler.fail(
        live,
        {
          task_id: taskId,
          attempt: live.attempt,
          duration_ms: 1,
          error: 'no runbook',
          retryable: false,
        },
        agentId,
      );
      scheduler.reportCapacity(agentId, 'testing', 1, []);
      turn();
      const idleAgent = ids[i % ids.length];
      const t1 = performance.now();
      scheduler.reportCapacity(idleAgent, 'testing', 1, []);
      turn();
      beats.push(performance.now() - t1);
    }
    return { dispatchUs: median(dispatches) * 1000, heartbeatUs: median(beats) * 1000 };
  } finally {
    ledger.close();
  }
}

async function hubWithReplicas(dir, agents, windowMs) {
  // mosquitto where it is installed, so that the figures compare with those taken before the
  // embedded broker's registrations stopped growing with the square of the swarm (case 7, fixed
  // 2026-12-01); the hub is what is measured.
  const broker = hasCommand('mosquitto') ? 'mosquitto' : 'embedded';
  const swarm = await startSwarm(
    dir,
    { broker, processes: 'separate' },
    { agents: 0, sandbox: 'none' },
  );
  try {
    const t0 = now();
    const [proc] = swarm.startAgents(
      1,
      ['--replicas', String(agents), '--concurrency', '1'],
      'idle',
    );
    await swarm.watcher.registered(agents, 60_000 + agents * 60);
    const registeredS = (Math.max(...swarm.watcher.registers.values()) - t0) / 1000;
    log(`${agents} replicas registered in ${registeredS.toFixed(1)} s`);
    await sleep(1_000); // the registrations' own work settles
    const pids = [swarm.hubPid, swarm.brokerPid, proc.pid];
    const before = pids.map(cpuSeconds);
    const w0 = now();
    await sleep(windowMs);
    const seconds = (now() - w0) / 1000;
    const pct = pids.map((pid, i) => ((cpuSeconds(pid) - before[i]) / seconds) * 100);
    const grants = [];
    for (let i = 0; i < 20; i++) {
      const spec = task('dispatch');
      const sent = now();
      await swarm.watcher.publish(spec);
      await swarm.watcher.until(
        () => swarm.watcher.outcomes.has(spec.task_id),
        30_000,
        () => `task ${spec.task_id}`,
      );
      grants.push(swarm.watcher.grants.get(spec.task_id) - sent);
    }
    return {
      broker,
      registeredS,
      hubPct: pct[0],
      brokerPct: pct[1],
      agentsPct: pct[2],
      grantP50: median(grants),
    };
  } finally {
    await swarm.stop();
  }
}
