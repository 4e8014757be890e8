// docs/RELIABILITY.md: machine, command, date, the table, what each scenario does, and what was
// seen in each FAIL. Text below the HAND_WRITTEN marker (a diagnosis) is kept across runs.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { formatTable } from './table.mjs';

export const HAND_WRITTEN = '<!-- hand-written below: kept by scripts/chaos/run.mjs -->';

function version(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .split('\n')[0]
      .trim();
  } catch (error) {
    // `mosquitto -h` prints its version and exits 3.
    const out = `${error.stdout ?? ''}`.split('\n')[0].trim();
    return out || 'not installed';
  }
}

export function describeMachine() {
  const cpu = cpus();
  return [
    `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB`,
    `Linux ${release()}, Node ${process.version}, ${version('mosquitto', ['-h'])}, ${version('bwrap', ['--version'])}`,
    `load average at the end ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')} (the machine is shared)`,
  ].join('; ');
}

export function writeReliability(path, { command, started, rows, scenarios, results, quick }) {
  const kept =
    existsSync(path) && readFileSync(path, 'utf8').includes(HAND_WRITTEN)
      ? readFileSync(path, 'utf8').split(HAND_WRITTEN)[1]
      : '\n';
  const failures = results.filter((r) => r.pass !== true);
  const text = [
    '# Reliability: the fault suite (`npm run chaos`)',
    '',
    'Written by `scripts/chaos/run.mjs` at the end of a run; the section at the bottom is by hand.',
    'Every component is a real process: `sheri broker` (its state on disk) or mosquitto, `sheri hub`,',
    '`sheri agent`s; tasks are submitted by the signed operator. Counts come from the ledger (SQLite,',
    'read-only), the side-effect files each task command appends to (a start line before its work, a',
    'done line after) and a recorder subscribed to `<swarm>/#` as an observer. **lost** = submitted',
    'but neither complete nor dead in the ledger; **dup starts** / **dup completions** = executions',
    'begun / run to their end beyond the first, summed over tasks (from the side-effect files).',
    'Lease 10 s and heartbeat 2 s everywhere; other settings are the defaults unless a scenario says.',
    '',
    `- date: ${started.toISOString()}`,
    `- command: \`${command}\`${quick ? ' (**--quick**: scaled-down counts, see each scenario)' : ''}`,
    `- machine: ${describeMachine()}`,
    '',
    formatTable(rows),
    '',
    '## Scenarios',
    '',
    ...scenarios.map((s) => `${s.id}. **${s.title}.** ${s.description(quick)}`),
    '',
    '## What was seen in each FAIL',
    '',
    ...(failures.length === 0
      ? ['Nothing failed.']
      : failures.map(
          (r) =>
            `- **${r.scenario} (${r.broker})**: ${r.error ? `the run stopped: ${r.error}. ` : ''}${r.notes.join('; ')}`,
        )),
    '',
    HAND_WRITTEN,
  ].join('\n');
  writeFileSync(path, `${text}${kept}`);
}
