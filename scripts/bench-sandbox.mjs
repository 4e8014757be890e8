#!/usr/bin/env node
// What the sandbox costs a command: `true` run 200 times through the agent's process runner bare
// (bash, `--sandbox none`) and in bubblewrap, interleaved, medians compared. `npm run bench`.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS } from '../dist/src/config/defaults.js';
import { runProcess } from '../dist/src/tools/shell/run-process.js';
import { Sandbox } from '../dist/src/tools/shell/sandbox.js';

const RUNS = Number(process.env.BENCH_SANDBOX_RUNS ?? 200);
const root = mkdtempSync(join(tmpdir(), 'sheri-bench-sandbox-'));
const workspace = join(root, 'ws');
mkdirSync(workspace);
// As an agent's commands get it: a $HOME of their own (the sandbox hides it), the workspace.
const env = { PATH: '/usr/bin:/bin', HOME: join(root, 'home'), LANG: 'C.UTF-8' };
const make = (mode) =>
  Sandbox.create({ mode, limits: DEFAULTS.sandboxLimits, protectedPaths: [], env: process.env });
const modes = { none: make('none'), bwrap: make('bwrap') };

async function once(sandbox) {
  const started = performance.now();
  const result = await runProcess('true', {
    cwd: workspace,
    env,
    timeoutMs: 10_000,
    outputLimit: 1_000,
    sandbox: { sandbox, workspace, readOnly: false, network: false },
  });
  if (result.exit_code !== 0) throw new Error(`true failed: ${JSON.stringify(result)}`);
  return performance.now() - started;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const p95 = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.95)];

const times = { none: [], bwrap: [] };
for (let i = 0; i < 10; i++) for (const sandbox of Object.values(modes)) await once(sandbox); // warm-up
for (let i = 0; i < RUNS; i++) {
  for (const [name, sandbox] of Object.entries(modes)) times[name].push(await once(sandbox));
}
rmSync(root, { recursive: true, force: true });
for (const sandbox of Object.values(modes)) await sandbox.close();
const row = (name) =>
  `| ${name.padEnd(36)} | ${String(RUNS).padStart(4)} | ${median(times[name]).toFixed(1).padStart(9)} | ${p95(times[name]).toFixed(1).padStart(6)} |`;
console.log(`sandbox overhead of \`true\`, ${RUNS} runs each, interleaved, ${cpus().length} cores`);
console.log(`cgroup: ${modes.bwrap.status.cgroup}`);
console.log('| runner                               | runs | median ms | p95 ms |');
console.log('| ------------------------------------ | ---: | --------: | -----: |');
console.log(
  row('none').replace('none'.padEnd(36), 'bash, no sandbox (`--sandbox none`)'.padEnd(36)),
);
console.log(row('bwrap').replace('bwrap'.padEnd(36), 'bubblewrap + prlimit + cgroup'.padEnd(36)));
console.log(
  `overhead: median ${(median(times.bwrap) - median(times.none)).toFixed(1)} ms per command`,
);
