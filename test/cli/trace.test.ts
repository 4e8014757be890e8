import { afterEach, describe, expect, it } from 'vitest';
import { BusRecorder } from '../helpers/bus-recorder.js';
import { runSheri, startSheri, type SheriProcess } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';

const TIME = String.raw`\d\d:\d\d:\d\d\.\d{3}`;

describe('sheri trace', () => {
  let swarm: TestSwarm;
  const processes: SheriProcess[] = [];
  afterEach(async () => {
    for (const process of processes.splice(0)) await process.kill('SIGKILL');
    await swarm?.close();
  });

  async function startTrace(...extra: string[]): Promise<SheriProcess> {
    const trace = startSheri(
      [
        'trace',
        '--broker',
        swarm.brokerUrl,
        '--swarm',
        swarm.swarm,
        ...extra,
        // In the swarm's folder, trace logs in as the local operator (PROTOCOL §15.2).
      ],
      { cwd: swarm.dir },
    );
    processes.push(trace);
    // Printed once the subscription is acknowledged: nothing published after it can be missed.
    await trace.waitForOutput(`tracing ${swarm.swarm}/`);
    return trace;
  }

  it("prints one readable line per message of a task's life: new, assigned, progress, complete", async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    await swarm.startHub();
    const agent = await swarm.startAgent('testing');
    const trace = await startTrace();
    await swarm.submit([
      { task_id: 'traced', type: 'testing.run', payload: {}, commands: ['echo traced'] },
    ]);
    await trace.waitForOutput(/tasks\/complete .* traced#1 complete in/);

    const life = trace
      .output()
      .split('\n')
      .filter((line) => / tasks\/(new|assigned\/\S+|progress|complete) /.test(line));
    const expected = [
      String.raw`tasks/new +operator +traced testing\.run normal: 1 command: echo traced`,
      String.raw`tasks/assigned/${agent.agentId} +hub +traced -> ${agent.agentId} attempt 1 \(lease 5 s\)`,
      String.raw`tasks/progress +${agent.agentId} +traced#1 0% running 1/1: echo traced`,
      String.raw`tasks/progress +${agent.agentId} +traced#1 100% finished 1/1, exited 0 in \d+ ms: echo traced`,
      String.raw`tasks/complete +${agent.agentId} +traced#1 complete in (?:\d+ ms|[\d.]+ s), exit 0`,
    ];
    expect(life).toHaveLength(expected.length);
    life.forEach((line, i) => expect(line).toMatch(new RegExp(`^${TIME}  ${expected[i]}$`)));

    // Ctrl-C ends it cleanly.
    trace.child.kill('SIGINT');
    expect(await trace.exited()).toBe(0);
  });

  it('prints JSON lines with --raw, and only the topics --filter asks for', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    await swarm.startHub();
    await swarm.startAgent('testing');
    const trace = await startTrace('--raw', '--filter', 'tasks/#');
    await swarm.submit([
      { task_id: 'raw-1', type: 'testing.run', payload: {}, commands: ['true'] },
    ]);
    await trace.waitForOutput('"topic":"tasks/complete"');

    const records = trace
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map(
        (line) =>
          JSON.parse(line) as {
            topic: string;
            retained: boolean;
            message: { payload: { task_id?: string } };
          },
      );
    expect(records.length).toBeGreaterThanOrEqual(4);
    expect(records.every((record) => record.topic.startsWith('tasks/'))).toBe(true);
    expect(records.find((record) => record.topic === 'tasks/complete')).toMatchObject({
      retained: false,
      message: {
        agent_id: expect.stringMatching(/^testing-/),
        payload: { task_id: 'raw-1', attempt: 1 },
      },
    });
  });

  it('shows a malformed message as unreadable, with the reason, and keeps tracing', async () => {
    swarm = new TestSwarm();
    // An open broker (--no-auth): the embedded one would refuse the garbage before anyone saw it.
    await swarm.startBroker({ open: true });
    await swarm.startHub();
    const trace = await startTrace();
    const publisher = await BusRecorder.start(swarm.brokerUrl, swarm.swarm, 'nothing');
    swarm.onClose(() => publisher.close());
    await publisher.publish('tasks/new', 'not json');
    await trace.waitForOutput(/ errors +hub +BAD_SIGNATURE on /);
    await swarm.submit([
      { task_id: 'after', type: 'testing.run', payload: {}, commands: ['true'] },
    ]);
    await trace.waitForOutput(/ tasks\/new +operator +after /);
    expect(trace.output()).toMatch(
      new RegExp(
        `${TIME}  tasks/new +- +unreadable \\(BAD_JSON, 8 bytes\\): not JSON: Unexpected token`,
      ),
    );
    expect(trace.child.exitCode).toBeNull();
  });

  it('refuses a filter that is not an MQTT topic filter, saying what is wrong', async () => {
    const { code, stderr } = await runSheri(['trace', '--filter', 'tasks/#/new']);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      'sheri: --filter "tasks/#/new" may have "#" only as the whole last level, as in "tasks/#"',
    );
  });
});
