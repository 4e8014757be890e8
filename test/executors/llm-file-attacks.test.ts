import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { callTools, FakeLlmServer, say } from '../helpers/fake-llm-server.js';
import { fakeLlm, makeReviewRepo } from '../helpers/llm-swarm.js';
import { TestSwarm } from '../helpers/swarm.js';

interface ToolResultSent {
  content: string;
  is_error?: boolean;
}

const HEARTBEAT_MS = 200;

describe("a model attacking the agent's file tools", () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('has every attack refused or bounded while the agent keeps its heartbeat rhythm', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    await swarm.startHub();
    const recorder = await swarm.record();
    const repo = join(swarm.dir, 'repo');
    mkdirSync(repo);
    makeReviewRepo(repo);
    const outside = join(swarm.dir, 'outside.txt');
    writeFileSync(outside, 'OUTSIDE-CANARY\n');
    linkSync(outside, join(repo, 'hard.txt'));
    symlinkSync('/dev/zero', join(repo, 'zero'));
    execFileSync('mkfifo', [join(repo, 'pipe')]);
    mkdirSync(join(repo, '.sheri'));
    writeFileSync(join(repo, '.sheri', 'hub.sqlite'), 'LEDGER-CANARY');
    writeFileSync(join(repo, 'long.txt'), `${'a'.repeat(50_000)}!\n`);
    const gitConfig = readFileSync(join(repo, '.git', 'config'), 'utf8');
    const fake = await FakeLlmServer.start([
      callTools([
        { name: 'read_file', input: { path: 'pipe' } },
        { name: 'write_file', input: { path: 'pipe', content: 'x' } },
        { name: 'read_file', input: { path: 'zero' } },
        { name: 'read_file', input: { path: 'hard.txt' } },
        { name: 'write_file', input: { path: 'hard.txt', content: 'overwritten' } },
        {
          name: 'write_file',
          input: { path: '.git/config', content: '[core]\n\tfsmonitor = evil\n' },
        },
        { name: 'write_file', input: { path: '.git/hooks/pre-commit', content: 'evil' } },
        { name: 'read_file', input: { path: '.sheri/hub.sqlite' } },
        { name: 'write_file', input: { path: 'sheri.config.json', content: '{"swarm":"x"}' } },
        { name: 'search_files', input: { pattern: '(a+)+$', path: '.' } },
      ]),
      say('done'),
    ]);
    swarm.onClose(() => fake.close());
    const agent = await swarm.startAgent(
      'general',
      { ...fakeLlm(fake), heartbeatMs: HEARTBEAT_MS },
      1,
      repo,
    );
    await swarm.submit([
      { task_id: 'attack', type: 'code.generate', payload: {}, prompt: 'Break out.' },
    ]);
    await recorder.waitFor(
      () => recorder.on('tasks/complete').some((m) => m.payload.task_id === 'attack'),
      30_000,
    );

    const results = fake.requests[1]!.body.messages[2].content as ToolResultSent[];
    expect(results).toHaveLength(10);
    for (const [i, result] of results.entries()) {
      expect(result.is_error, `tool call ${i}: ${result.content}`).toBe(true);
      expect(result.content).not.toMatch(/OUTSIDE-CANARY|LEDGER-CANARY|\0/);
    }
    expect(results[9]!.content).toMatch(/too (slow|long)|time limit|stopped/i);
    expect(readFileSync(outside, 'utf8')).toBe('OUTSIDE-CANARY\n');
    expect(readFileSync(join(repo, '.git', 'config'), 'utf8')).toBe(gitConfig);
    expect(() => readFileSync(join(repo, '.git', 'hooks', 'pre-commit'))).toThrow();
    expect(() => readFileSync(join(repo, 'sheri.config.json'))).toThrow();

    // The search ran for seconds; the agent's heartbeats went on at their period meanwhile.
    const beats = recorder
      .on('agents/heartbeat')
      .filter((m) => (m.json as { agent_id?: string }).agent_id === agent.agentId)
      .map((m) => Date.parse((m.json as { timestamp: string }).timestamp));
    const during = beats.filter((at) => at >= fake.requests[0]!.at && at <= fake.requests[1]!.at);
    expect(during.length).toBeGreaterThanOrEqual(5);
    const gaps = during.slice(1).map((at, i) => at - during[i]!);
    expect(Math.max(...gaps)).toBeLessThan(HEARTBEAT_MS * 4);
  });

  it('offers a read-only role (review) no write_file or edit_file', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    await swarm.startHub();
    const recorder = await swarm.record();
    const repo = join(swarm.dir, 'repo');
    mkdirSync(repo);
    makeReviewRepo(repo);
    const fake = await FakeLlmServer.start([say('Looks good.')]);
    swarm.onClose(() => fake.close());
    await swarm.startAgent('review', fakeLlm(fake), 1, repo);
    await swarm.submit([{ task_id: 'look', type: 'code.review', payload: {}, prompt: 'Look' }]);
    await recorder.waitFor(
      () => recorder.on('tasks/complete').some((m) => m.payload.task_id === 'look'),
      20_000,
    );
    const offered = (fake.requests[0]!.body.tools as { name: string }[]).map((tool) => tool.name);
    expect(offered).toContain('read_file');
    expect(offered).not.toContain('write_file');
    expect(offered).not.toContain('edit_file');
  });
});
