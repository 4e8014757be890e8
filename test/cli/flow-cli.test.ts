import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ANSI_PAINT,
  changeLine,
  liveLines,
  NO_PAINT,
  summaryLines,
} from '../../src/cli/flow-view.js';
import { upNextSteps } from '../../src/cli/next-steps.js';
import { loadConfig } from '../../src/config/load.js';
import type { FlowUpdate, StepView } from '../../src/protocol/flow-messages.js';
import type { FlowDetail, StepDetail } from '../../src/tasks/flow-queries.js';
import { freePort } from '../helpers/tools.js';
import { runSheri } from '../helpers/sheri-process.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sheri-flow-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.parse('2026-12-01T11:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();
const step = (id: string, state: StepView['state'], extra: Partial<StepView> = {}): StepView => ({
  id,
  type: 'testing.run',
  state,
  task_id: `f.${id}`,
  agent_id: null,
  attempt: 0,
  started_at: null,
  finished_at: null,
  ...extra,
});

describe('sheri flow run, before anything is sent', () => {
  it('refuses a flow file with its line and exit 2, without looking for a broker', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'name: bad\nsteps:\n  a:\n    type: testing.run\n    needs: nope\n    commands: "true"\n',
    );
    const port = await freePort(); // nothing listens there
    const run = await runSheri(
      ['flow', 'run', file, '--wait', '--broker', `mqtt://127.0.0.1:${port}`],
      { cwd: dir },
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `sheri: flow file ${file} is refused:\n  line 5: steps.a.needs[0]: needs unknown step "nope" (steps: a)\n`,
    );
  });

  it('refuses --wait on a flow with a schedule: it has no one run to wait for', async () => {
    const file = join(dir, 'cron.yaml');
    writeFileSync(
      file,
      'name: cron\nschedule:\n  every: 5m\nsteps:\n  a:\n    type: testing.run\n    commands: "true"\n',
    );
    const run = await runSheri(['flow', 'run', file, '--wait'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/has a schedule: it runs once per slot/);
  });
});

describe('schedules in the config file', () => {
  it('stops the hub with exit 4, naming the schedule, when one cannot run', async () => {
    writeFileSync(
      join(dir, 'sheri.config.json'),
      JSON.stringify({
        schedules: {
          nightly: { cron: 'at three', task: { type: 'testing.run', commands: ['true'] } },
        },
      }),
    );
    const port = await freePort();
    const run = await runSheri(
      ['hub', '--broker', `mqtt://127.0.0.1:${port}`, '--data-dir', join(dir, 'data')],
      { cwd: dir },
    );
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(
      /schedules\.nightly: cron "at three": CronPattern: invalid configuration format/,
    );
  });
});

describe('the live step view (pure: what the hub said, drawn)', () => {
  const update: FlowUpdate = {
    flow_id: 'deploy-1',
    name: 'deploy',
    state: 'running',
    created_at: at(0),
    finished_at: null,
    error: null,
    steps: [
      step('build', 'complete', {
        agent_id: 'deployment-aaaaaa',
        attempt: 1,
        started_at: at(0),
        finished_at: at(1_200),
      }),
      step('test', 'running', { agent_id: 'testing-bbbbbb', attempt: 1, started_at: at(1_300) }),
      step('deploy', 'waiting'),
    ],
  };

  it('shows each step with its state, agent, time and what it is doing, cut to the width', () => {
    const lines = liveLines(
      {
        update,
        progress: new Map([['f.test', 'running 1/1: npm test']]),
        waitsFor: new Map([['deploy', 'needs test, scan']]),
        now: T0 + 3_800,
        frame: 0,
      },
      80,
      NO_PAINT,
    );
    expect(lines).toEqual([
      'flow deploy-1  running  3.8 s',
      '  ✓ build   deployment-aaaaaa  complete    1.2 s',
      '  ⠋ test    testing-bbbbbb     running     2.5 s  running 1/1: npm test',
      '  · deploy                     waiting            needs test, scan',
    ]);
    expect(
      liveLines(
        { update, progress: new Map(), waitsFor: new Map(), now: T0, frame: 0 },
        20,
        NO_PAINT,
      )[1],
    ).toBe('  ✓ build   deploym…');
  });

  it('prints one line per change when piped, and nothing when nothing people see changed', () => {
    const before = step('test', 'queued');
    const after = step('test', 'running', {
      agent_id: 'testing-bbbbbb',
      attempt: 1,
      started_at: at(10),
    });
    expect(changeLine(before, after, T0 + 20)).toBe(
      '11:00:00.020  test  running on testing-bbbbbb (attempt 1)',
    );
    expect(changeLine(after, after, T0 + 30)).toBeUndefined();
  });

  /** A flow whose one step, `test`, failed: `failure` says how. */
  function failedFlow(
    finishedMs: number,
    failure: Pick<StepDetail, 'duration_ms' | 'note' | 'outputs' | 'output'>,
  ): FlowDetail {
    return {
      flow_id: 'deploy-1',
      name: 'deploy',
      state: 'failed',
      created_at: at(0),
      finished_at: at(finishedMs),
      error: 'step test failed',
      file: null,
      vars: {},
      submitted_by: 'operator',
      schedule: null,
      steps: [
        {
          ...step('test', 'failed', { agent_id: 'testing-bbbbbb', attempt: 1 }),
          agent_role: 'testing',
          roles: ['testing'],
          needs: [],
          on_failure: null,
          ...failure,
        },
      ],
    };
  }

  it('ends with a summary that names the failed step and shows its output', () => {
    const detail = failedFlow(2_000, {
      duration_ms: 812,
      note: 'command 1/1 `npm test` exited 1 in 812 ms',
      outputs: {},
      output: '$ npm test  (exit 1)\nnot ok 2 - greets',
    });
    expect(summaryLines(detail, NO_PAINT)).toEqual([
      'flow deploy-1 (deploy) failed in 2.0 s',
      '',
      'STEP  TYPE         ROLE     AGENT           STATE   TIME',
      'test  testing.run  testing  testing-bbbbbb  failed  0.8 s',
      '',
      'step test failed: command 1/1 `npm test` exited 1 in 812 ms',
      '  $ npm test  (exit 1)',
      '  not ok 2 - greets',
    ]);
  });

  it('keeps its own colours and shows what the failed step printed as text, escapes and all', () => {
    const detail = failedFlow(1_000, {
      duration_ms: 5,
      note: 'command 1/1 exited 1\x1b]0;owned\x07',
      outputs: { url: 'http://x\x1b[2K' },
      output: 'FAIL\x1b[1A\x1b[2Kall passed',
    });
    const lines = summaryLines(detail, ANSI_PAINT);
    // eslint-disable-next-line no-control-regex -- the escapes of its own colours
    const ours = /\x1b\[(1|2|22|31|32|36|39)m/g;
    // eslint-disable-next-line no-control-regex -- no other control character may be left
    expect(lines.join('\n').replace(ours, '')).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect(lines).toContain(
      '\x1b[31mstep test failed: command 1/1 exited 1\\x1b]0;owned\\x07\x1b[39m',
    );
    expect(lines).toContain('  FAIL\\x1b[1A\\x1b[2Kall passed');
  });
});

describe('what sheri up says to run next', () => {
  const config = (flags = {}) => loadConfig({ ...flags }, {});

  it('gives commands that paste as they are: npx sheri, and only the flags this swarm needs', () => {
    expect(
      upNextSteps(
        config({ dataDir: '/work/p/.sheri' }),
        { host: '127.0.0.1', port: 1883 },
        ['testing'],
        '/work/p',
      ),
    ).toEqual([
      "npx sheri task submit --type testing.run --command 'echo hello from a testing agent' --wait",
      'npx sheri monitor',
      'npx sheri tasks',
      "mosquitto_sub -h 127.0.0.1 -p 1883 -t 'opencto-dev/#' -v",
    ]);
  });

  it('names the broker, swarm and data directory where they are not the defaults', () => {
    const lines = upNextSteps(
      config({ swarm: 'demo', dataDir: '/var/lib/sheri' }),
      { host: '0.0.0.0', port: 1884 },
      [],
      '/work/p',
    );
    expect(lines[0]).toBe(
      'npx sheri agent --role testing --broker mqtt://127.0.0.1:1884 --swarm demo --data-dir /var/lib/sheri',
    );
    expect(lines.at(-1)).toBe("mosquitto_sub -h 127.0.0.1 -p 1884 -t 'demo/#' -v");
  });
});
