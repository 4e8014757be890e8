import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { BusRecorder } from '../helpers/bus-recorder.js';
import { TestSwarm } from '../helpers/swarm.js';
import { OutcomeOutbox } from '../../src/agent/outcome-outbox.js';
import type { Bus } from '../../src/transport/bus.js';

const AGENT = { kind: 'agent', name: 'outbox-1', role: 'testing' } as const;

/** PROTOCOL §4.8, the agent's side alone: a real broker and bus, no hub (nothing confirms). */
describe('the outcome outbox', () => {
  let swarm: TestSwarm;
  let bus: Bus;
  let recorder: BusRecorder;
  const lines: { msg: string; event?: string }[] = [];
  let clock = 0;
  afterEach(async () => {
    lines.length = 0;
    await swarm.close();
  });

  async function setUp(limits: { max?: number; maxSends?: number } = {}): Promise<OutcomeOutbox> {
    swarm = new TestSwarm();
    await swarm.startBroker({ inMemory: true });
    recorder = await swarm.record();
    bus = await swarm.connectAs(AGENT, { clientId: AGENT.name });
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => lines.push(JSON.parse(line) as { msg: string }) },
    );
    clock = 0;
    return new OutcomeOutbox(bus, {
      logger,
      capacity: () => ({ free: 1, running: [] }),
      now: () => clock,
      ...limits,
    });
  }

  const outcome = (taskId: string): { task_id: string; attempt: number; duration_ms: number } => ({
    task_id: taskId,
    attempt: 1,
    duration_ms: 1,
  });
  const sentFor = (taskId: string): number =>
    recorder.on('tasks/complete').filter((m) => m.payload.task_id === taskId).length;

  it('drops the oldest unconfirmed outcome past its bound, saying which', async () => {
    const outbox = await setUp({ max: 3 });
    for (const id of ['a', 'b', 'c', 'd']) await outbox.send('tasks/complete', outcome(id));
    expect(outbox.keys()).toEqual(['b#1', 'c#1', 'd#1']);
    expect(lines.filter((line) => line.event === 'unsettled-dropped')).toEqual([
      expect.objectContaining({ msg: expect.stringContaining('a#1 dropped unconfirmed') }),
    ]);
  });

  it('sends each outcome with a fresh envelope and the room of the moment, until confirmed', async () => {
    const outbox = await setUp();
    await outbox.send('tasks/complete', outcome('t'));
    clock = 1_000;
    outbox.resend(500);
    await recorder.waitFor(() => sentFor('t') === 2, 5_000);
    const [first, second] = recorder.on('tasks/complete');
    // A new envelope id each time: the receivers' replay guard takes the resend as new (§15.4).
    expect((first!.json as { id: string }).id).not.toBe((second!.json as { id: string }).id);
    expect(second!.payload).toMatchObject({ task_id: 't', attempt: 1, free: 1, running: [] });

    outbox.settled([{ task_id: 't', attempt: 1 }]);
    clock = 2_000;
    outbox.resend(0);
    expect(outbox.size).toBe(0);
    await bus.publish('tasks/progress', { task_id: 'fence', attempt: 1, message: 'fence' });
    await recorder.waitFor(() => recorder.on('tasks/progress').length === 1, 5_000);
    expect(sentFor('t')).toBe(2);
  });

  it('resends only what waited long enough, and nothing while the hub says it is offline', async () => {
    const outbox = await setUp();
    await outbox.send('tasks/complete', outcome('old'));
    clock = 800;
    await outbox.send('tasks/complete', outcome('new'));
    clock = 1_000;
    outbox.resend(500); // 'old' waited 1,000 ms: again; 'new' only 200 ms
    await recorder.waitFor(() => sentFor('old') === 2, 5_000);
    clock = 5_000;
    outbox.hubState(false);
    outbox.resend(0); // would pile up in the hub's session: held
    outbox.hubState(true); // back online: everything goes again
    await recorder.waitFor(() => sentFor('old') === 3 && sentFor('new') === 2, 5_000);
    await bus.publish('tasks/progress', { task_id: 'fence', attempt: 1, message: 'fence' });
    await recorder.waitFor(() => recorder.on('tasks/progress').length === 1, 5_000);
    expect([sentFor('old'), sentFor('new')]).toEqual([3, 2]);
  });

  it('gives up on an outcome no confirmation came for after its last send, saying so', async () => {
    const outbox = await setUp({ maxSends: 2 });
    await outbox.send('tasks/complete', outcome('never'));
    outbox.resend(0);
    expect(outbox.size).toBe(1);
    outbox.resend(0);
    expect(outbox.size).toBe(0);
    expect(lines.filter((line) => line.event === 'unsettled-given-up')).toHaveLength(1);
    await recorder.waitFor(() => sentFor('never') === 2, 5_000);
  });

  it('says when everything it sent is confirmed, or that it waited in vain', async () => {
    const outbox = await setUp();
    await outbox.send('tasks/complete', outcome('x'));
    const drained = outbox.drained(10_000);
    outbox.settled([{ task_id: 'x', attempt: 1 }]);
    await expect(drained).resolves.toBe(true);
    await outbox.send('tasks/complete', outcome('y'));
    await expect(outbox.drained(50)).resolves.toBe(false);
  });
});
