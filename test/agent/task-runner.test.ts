import { afterEach, describe, expect, it } from 'vitest';
import { prepareSurroundings } from '../../src/agent/agent-setup.js';
import { ACK_WINDOW_MS, AgentSession } from '../../src/agent/agent-session.js';
import { TaskRunner } from '../../src/agent/task-runner.js';
import { ServiceSupervisor } from '../../src/executors/service-supervisor.js';
import { silentLogger } from '../../src/logging/logger.js';
import type { TaskAssigned } from '../../src/protocol/messages.js';
import { StateGuard } from '../../src/tools/protected-files.js';
import { BASE_POLICY } from '../../src/tools/shell/policy.js';
import { TestSwarm } from '../helpers/swarm.js';

const AGENT = { kind: 'agent', name: 'runner-1', role: 'testing' } as const;

function grant(taskId: string, commands: string[]): TaskAssigned {
  return {
    task_id: taskId,
    agent_id: AGENT.name,
    attempt: 1,
    lease_ms: 30_000,
    lease_expires_at: new Date().toISOString(),
    task: { task_id: taskId, type: 'testing.run', payload: {}, commands },
    inputs: {},
  };
}

describe('the task runner and the session, alone', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  async function setUp(concurrency: number): Promise<{
    runner: TaskRunner;
    session: AgentSession;
    recorder: Awaited<ReturnType<TestSwarm['record']>>;
    said: string[];
  }> {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const recorder = await swarm.record();
    const bus = await swarm.connectAs(AGENT);
    const config = swarm.config({ sandbox: { ...swarm.config().sandbox, mode: 'none' } });
    const surroundings = prepareSurroundings({
      config,
      role: 'testing',
      workspace: swarm.dir,
      cwd: swarm.dir,
    });
    const said: string[] = [];
    const parts: { session?: AgentSession } = {};
    const runner: TaskRunner = new TaskRunner(bus, {
      config,
      agentId: AGENT.name,
      role: AGENT.role,
      concurrency,
      surroundings,
      policy: BASE_POLICY,
      guard: new StateGuard(surroundings.guardedPaths, surroundings.dataDir, AGENT.name),
      llm: undefined,
      services: new ServiceSupervisor(silentLogger()),
      logger: silentLogger(),
      requestApproval: () => Promise.resolve({ approved: false, reason: 'no one asked' }),
      spoke: (taskId, attempt) => {
        said.push(`spoke ${taskId}#${attempt}`);
        parts.session?.spoke(taskId, attempt);
      },
      ended: (taskId, attempt) => said.push(`ended ${taskId}#${attempt}`),
      draining: () => false,
      report: async (topic, payload): Promise<void> => {
        await bus.publish(topic, { ...payload, free: runner.free, running: runner.refs() });
      },
    });
    const session = new AgentSession(
      bus,
      { config, agentId: AGENT.name, role: AGENT.role, concurrency, logger: silentLogger() },
      {
        free: () => runner.free,
        running: () => runner.refs(),
        usage: () => runner.usage,
        sandbox: () => ({ kind: 'none', network: true, read_only: false, cgroup: 'none' }),
        draining: () => false,
        renewed: () => {},
        clock: () => performance.now(),
      },
    );
    parts.session = session;
    return { runner, session, recorder, said };
  }

  it('sends an outcome that carries the room left after it, so it is also the next claim', async () => {
    const { runner, recorder, said } = await setUp(2);
    runner.start(grant('slow', ['sleep 5']));
    runner.start(grant('quick', ['true']));
    await recorder.waitFor(() => recorder.on('tasks/complete').length === 1, 10_000);
    expect(recorder.on('tasks/complete')[0]?.payload).toMatchObject({
      task_id: 'quick',
      attempt: 1,
      free: 1,
      running: [{ task_id: 'slow', attempt: 1 }],
    });
    // Its first progress spoke for it before the outcome did; it ended before the outcome went.
    const quick = said.filter((line) => line.includes('quick'));
    expect(quick[0]).toBe('spoke quick#1');
    expect(quick.slice(-2)).toEqual(['ended quick#1', 'spoke quick#1']);
    expect(runner.refs()).toEqual([{ task_id: 'slow', attempt: 1 }]);
    runner.abortAll();
  });

  it('sends no outcome for an attempt canceled by a stop: the hub requeues it', async () => {
    const { runner, recorder } = await setUp(1);
    runner.start(grant('long', ['sleep 30']));
    await recorder.waitFor(() => recorder.on('tasks/progress').length === 1, 10_000);
    const [held] = runner.held();
    runner.abortAll();
    await held?.done;
    expect(runner.size).toBe(0);
    expect(recorder.on('tasks/complete')).toEqual([]);
    expect(recorder.on('tasks/failed')).toEqual([]);
  });

  it('acknowledges by a claim a grant its attempt said nothing about within the window', async () => {
    const { session, recorder } = await setUp(1);
    session.granted('spoken', 1);
    session.spoke('spoken', 1);
    session.granted('quiet', 1);
    await recorder.waitFor(() => recorder.on('tasks/claim').length === 1, 10_000);
    expect(recorder.on('tasks/claim')[0]?.payload).toEqual({ free: 1, running: [] });
    expect(ACK_WINDOW_MS).toBeLessThan(1_000);
  });
});
