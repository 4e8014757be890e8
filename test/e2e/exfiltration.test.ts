import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusRecorder } from '../helpers/bus-recorder.js';
import { FakeLlmServer } from '../helpers/fake-llm-server.js';
import { startSheri, type SheriProcess } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';
import { requireTool } from '../helpers/tools.js';
import { ATTEMPTS, CANARY, VICTIM_FILES } from '../fixtures/exfiltration.js';

const hasBwrap = requireTool('bwrap');

function filesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...filesUnder(path));
    else if (entry.isFile()) found.push(path);
  }
  return found;
}

describe.runIf(hasBwrap)(
  'a real agent process holding API keys, attacked through its tasks',
  () => {
    const swarm = new TestSwarm();
    let recorder: BusRecorder;
    let agent: SheriProcess;
    let workspace: string;
    const planted: string[] = [];

    beforeAll(async () => {
      await swarm.startBroker();
      await swarm.startHub();
      recorder = await swarm.record();
      workspace = join(swarm.dir, 'ws');
      const home = join(swarm.dir, 'home');
      mkdirSync(join(home, '.aws'), { recursive: true });
      mkdirSync(join(workspace, '.sheri'), { recursive: true });
      const plant = (path: string, text: string): void => {
        writeFileSync(path, text);
        planted.push(path);
      };
      plant(join(home, '.aws', 'credentials'), `aws_secret_access_key = ${CANARY.home}\n`);
      plant(join(workspace, '.sheri', 'credentials.json'), JSON.stringify({ secret: CANARY.data }));
      plant(
        join(workspace, 'sheri.config.json'),
        JSON.stringify({
          shellPolicies: { general: { allow: ['*'] } },
          runbooks: { 'code.generate': [`echo ${CANARY.config}`] },
        }),
      );
      for (const [name, text] of Object.entries(VICTIM_FILES))
        writeFileSync(join(workspace, name), text);
      // The agent checks its model at start: on the fake Messages API, never a real one.
      const fake = await FakeLlmServer.start([]);
      swarm.onClose(() => fake.close());
      agent = startSheri(
        [
          'agent',
          '--role',
          'general',
          '--concurrency',
          '4',
          '--broker',
          swarm.brokerUrl,
          '--swarm',
          swarm.swarm,
          '--workspace',
          workspace,
          // The swarm's data directory (its credential store): the agent's own, hidden from tasks.
          '--data-dir',
          swarm.dataDir,
          '--config',
          join(workspace, 'sheri.config.json'),
          '--sandbox',
          'required',
          '--log-format',
          'json',
        ],
        {
          cwd: workspace,
          env: {
            HOME: home,
            ANTHROPIC_API_KEY: CANARY.anthropic,
            ANTHROPIC_BASE_URL: fake.anthropicBaseUrl,
            GITHUB_TOKEN: CANARY.github,
            AWS_SECRET_ACCESS_KEY: CANARY.aws,
          },
        },
      );
      swarm.onClose(() => agent.kill());
      await agent.waitForOutput('"event":"joined"');
    });

    afterAll(() => swarm.close());

    it(`leaks no canary through ${ATTEMPTS.length} exfiltration attempts: results, progress, errors, logs, workspace files`, async () => {
      expect(ATTEMPTS.length).toBeGreaterThanOrEqual(30);
      const ids = ATTEMPTS.map((_, i) => `exfil-${i}`);
      await swarm.submit(
        ATTEMPTS.map((command, i) => ({
          task_id: ids[i]!,
          type: 'code.generate',
          payload: {},
          max_attempts: 1,
          commands: [command.replaceAll('$L', swarm.ledgerPath)],
        })),
      );
      const finished = (): Set<unknown> =>
        new Set([...recorder.distinct('tasks/complete'), ...recorder.distinct('tasks/dead')]);
      await recorder.waitFor(
        () => ids.every((id) => finished().has(id)),
        60_000,
        () => `(finished ${finished().size}/${ids.length})`,
      );
      const everything = [
        ...recorder.messages.map((message) => message.raw.toString('utf8')),
        agent.output(),
        ...filesUnder(workspace)
          .filter((path) => !planted.includes(path))
          .map((path) => `${relative(workspace, path)}: ${readFileSync(path, 'utf8')}`),
      ].join('\n');
      for (const [name, canary] of Object.entries(CANARY)) {
        expect(everything.includes(canary), `canary ${name} leaked`).toBe(false);
      }
      // Nor the swarm's own secret: the credential store's master, which every key derives from.
      for (const encoding of ['base64url', 'hex', 'base64'] as const) {
        expect(everything.includes(swarm.store.master.toString(encoding))).toBe(false);
      }
      // How each attempt ended: refused by the policy, or run (in the sandbox) to an outcome.
      const refused = recorder
        .on('errors')
        .filter((message) => message.payload.code === 'POLICY_DENIED').length;
      console.info(
        `exfiltration: ${ATTEMPTS.length} attempts, ${refused} refused by the policy, ${ATTEMPTS.length - refused} ran in the sandbox; 0 canaries leaked`,
      );
    });
  },
);
