import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nextSlot, slotId, slotsIn } from '../../src/tasks/schedule-slots.js';
import type { Hub } from '../../src/tasks/hub.js';
import { waitUntil } from '../helpers/scenarios.js';
import { runSheri, startSheri } from '../helpers/sheri-process.js';
import { Ledger } from '../../src/tasks/ledger.js';
import { MAX_FLOW_SCHEDULES } from '../../src/tasks/schedules.js';
import { ledgerPathFor } from '../../src/cli/serve.js';
import { TestSwarm } from '../helpers/swarm.js';

const EVERY_2S = { every_ms: 2_000, missed: 'latest' as const };

describe('schedule slots (PROTOCOL §17.7)', () => {
  it("puts an interval's slots on its multiples since the epoch, so a restart does not move them", () => {
    expect(slotsIn(EVERY_2S, 10_000, 15_500)).toEqual({ count: 2, newest: 14_000 });
    expect(slotsIn(EVERY_2S, 10_000, 11_999)).toEqual({ count: 0 });
    expect(nextSlot(EVERY_2S, 10_000)).toBe(12_000);
  });

  it("reads a cron expression's slots with croner, seconds and time zones included", () => {
    const at = Date.parse('2026-12-01T11:00:00.000Z');
    expect(slotsIn({ cron: '*/2 * * * * *', missed: 'latest' }, at, at + 5_000)).toEqual({
      count: 2,
      newest: at + 4_000,
    });
    expect(
      new Date(
        nextSlot({ cron: '0 3 * * *', timezone: 'Europe/Paris', missed: 'latest' }, at)!,
      ).toISOString(),
    ).toBe('2026-12-02T02:00:00.000Z');
  });

  it("names a slot's run by its time", () => {
    expect(slotId(Date.parse('2026-12-01T11:01:52.000Z'))).toBe('20261201T110152Z');
  });
});

/** Slot times of the schedule's tasks in the ledger, in order. */
function slotTasks(hub: Hub, name: string): string[] {
  return hub.ledger
    .list({ limit: 1_000 })
    .map((task) => task.taskId)
    .filter((id) => id.startsWith(`${name}.`))
    .sort();
}

/** Every 2 s from the first slot to the last: no slot left out, none twice. */
function consecutive(ids: string[], name: string): boolean {
  const times = ids.map((id) =>
    Date.parse(
      id
        .slice(name.length + 1)
        .replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'),
    ),
  );
  return times.every((time, i) => i === 0 || time - times[i - 1]! === 2_000);
}

describe('recurring tasks run by the hub', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('runs a schedule of every 2 s exactly once per slot across a hub kill -9 and restart', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const config = join(swarm.dir, 'hub.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        schedules: {
          tick: {
            every: '2s',
            task: {
              type: 'testing.run',
              commands: [`echo "$SHERI_TASK_ID $SHERI_AGENT_ID" >> "${swarm.executionLog}"`],
            },
          },
        },
      }),
    );
    const args = [
      'hub',
      '--broker',
      swarm.brokerUrl,
      '--swarm',
      swarm.swarm,
      '--data-dir',
      swarm.dataDir,
      '--config',
      config,
    ];
    let hub = startSheri(args, { cwd: swarm.dir });
    swarm.onClose(() => hub.kill());
    await hub.waitForOutput('hub ready');
    await swarm.startAgent('testing');
    await waitUntil(() => swarm.executions().length >= 2, 15_000);
    hub.child.kill('SIGKILL');
    await hub.exited();
    hub = startSheri(args, { cwd: swarm.dir });
    await hub.waitForOutput('hub ready');
    const before = swarm.executions().length;
    await waitUntil(() => swarm.executions().length >= before + 2, 15_000);
    await hub.kill();
    const ran = swarm.executions().map((e) => e.taskId);
    expect(new Set(ran).size).toBe(ran.length); // no slot ran twice
    expect(ran.every((id) => /^tick\.\d{8}T\d{6}Z$/.test(id))).toBe(true);
    // The ledger, read from its file: one task per slot, every slot from the first to the last
    // (the restart took less than a slot, so none was missed), each run once.
    const ledger = new Ledger(ledgerPathFor(swarm.dataDir, swarm.swarm));
    try {
      const ids = ledger
        .list({ limit: 1_000 })
        .map((task) => task.taskId)
        .sort();
      expect(consecutive(ids, 'tick'), ids.join(' ')).toBe(true);
      const complete = ids.filter((id) => ledger.get(id)?.state === 'complete');
      expect(complete.length).toBeGreaterThanOrEqual(3);
      // What ran is what the ledger holds, each once (the last may not be recorded yet).
      expect(ran.every((id) => ids.includes(id))).toBe(true);
      expect(complete.every((id) => ran.filter((r) => r === id).length === 1)).toBe(true);
    } finally {
      ledger.close();
    }
  });

  it('runs the latest of the slots missed while the hub was down once, and counts the others', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const overrides = {
      schedules: {
        tick: { every: 2_000, task: { type: 'testing.run', commands: ['true'] } },
      },
    };
    let hub = await swarm.startHub(overrides);
    await swarm.startAgent('testing');
    await waitUntil(() => slotTasks(hub, 'tick').length >= 1, 10_000);
    await hub.close();
    const stoppedAt = Date.now();
    // Three slots or more pass while no hub runs.
    await new Promise((resolve) => setTimeout(resolve, 6_500));
    hub = await swarm.startHub(overrides);
    const first = slotTasks(hub, 'tick');
    await waitUntil(() => slotTasks(hub, 'tick').length > first.length, 10_000);
    const ids = slotTasks(hub, 'tick');
    const times = ids.map((id) =>
      Date.parse(
        id.slice(5).replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'),
      ),
    );
    // One catch-up run for the missed slots: the newest of them, none of the older ones.
    const missed = times.filter((time) => time > stoppedAt && time < stoppedAt + 6_500);
    expect(missed.length).toBe(1);
    expect(new Set(ids).size).toBe(ids.length);
    const schedule = hub.flows.schedules.get('tick')!;
    expect(schedule.skipped).toBeGreaterThanOrEqual(2);
  });

  it('registers a flow file with a schedule from `sheri flow run`, runs it each slot, and removes it', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    await swarm.startAgent('testing');
    const file = join(swarm.dir, 'every-2s.yaml');
    writeFileSync(
      file,
      `name: every-2s\nschedule:\n  every: 2s\nsteps:\n  one:\n    type: testing.run\n    commands: echo one\n  two:\n    type: testing.run\n    needs: one\n    commands: echo two\n`,
    );
    const flags = [
      '--broker',
      swarm.brokerUrl,
      '--swarm',
      swarm.swarm,
      '--data-dir',
      swarm.dataDir,
    ];
    const run = await runSheri(['flow', 'run', file, ...flags], { cwd: swarm.dir });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^scheduled flow every-2s: every 2 s, next run \d{4}-\d\d-\d\dT/);
    await waitUntil(
      () => hub.flows.engine.store.list(10).some((flow) => flow.state === 'succeeded'),
      15_000,
    );
    const [ran] = hub.flows.engine.store.list(10).filter((flow) => flow.state === 'succeeded');
    expect(ran!.flowId).toMatch(/^every-2s\.\d{8}T\d{6}Z$/);
    expect(ran!.scheduleName).toBe('every-2s');
    const listed = await runSheri(['schedules', '--json', ...flags], { cwd: swarm.dir });
    expect(JSON.parse(listed.stdout).schedules).toEqual([
      expect.objectContaining({
        name: 'every-2s',
        source: 'flow',
        timing: 'every 2 s',
        runs: 'flow every-2s',
      }),
    ]);
    const removed = await runSheri(['schedule', 'remove', 'every-2s', ...flags], {
      cwd: swarm.dir,
    });
    expect(removed.stdout).toBe('removed schedule every-2s\n');
    expect(hub.flows.schedules.list()).toEqual([]);
  });

  it("starts no run that would take a schedule past the submitter's queue cap, and counts it skipped", async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    // No agent of the role ever comes: without the cap, a run a second would pile up for ever.
    const hub = await swarm.startHub({
      schedules: { tick: { every: 1_000, task: { type: 'testing.run', commands: ['true'] } } },
      security: { ...swarm.config().security, maxQueuedPerSubmitter: 2 },
    });
    await waitUntil(() => (hub.flows.schedules.get('tick')?.skipped ?? 0) >= 2, 10_000);
    expect(slotTasks(hub, 'tick')).toHaveLength(2);
    expect(hub.scheduler.live.unfinishedBy('schedule:tick')).toBe(2);
  });

  it('keeps at most MAX_FLOW_SCHEDULES schedules registered by flows, and lets one of them be changed', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const timing = { every_ms: 3_600_000, missed: 'skip' as const };
    const target = { task: { type: 'testing.run', payload: {}, commands: ['true'] } };
    for (let i = 0; i < MAX_FLOW_SCHEDULES; i++) {
      expect(hub.flows.schedules.register(`s${i}`, timing, target, 'operator', Date.now())).toEqual(
        {
          ok: true,
        },
      );
    }
    expect(
      hub.flows.schedules.register('one-more', timing, target, 'operator', Date.now()),
    ).toEqual({
      ok: false,
      code: 'QUEUE_FULL',
      reason: `${MAX_FLOW_SCHEDULES} schedules registered by flows already, the most the hub keeps; remove one first (sheri schedule remove NAME)`,
    });
    expect(hub.flows.schedules.register('s0', timing, target, 'operator', Date.now()).ok).toBe(
      true,
    );
    expect(hub.flows.schedules.list()).toHaveLength(MAX_FLOW_SCHEDULES);
  });
});
