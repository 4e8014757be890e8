#!/usr/bin/env node
// `npm run bench` (issue 10): every case, several runs each, a table of medians on stdout and the
// bench section of docs/BENCHMARKS.md. Run after `npm run build` (npm run bench does it).
//
//   node scripts/bench/index.mjs [--runs N] [--quick] [--only 1,2,latency] [--out FILE] [--no-write]
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as cases from './cases/index.mjs';
import { log, machine, removeDir, ROOT, tempDir } from './lib.mjs';
import { renderMarkdown, renderTable, spliceSection } from './report.mjs';
import { summarizeRuns } from './stats.mjs';

const ALL = [
  cases.floor,
  cases.dispatch,
  cases.bullmq,
  cases.latency,
  cases.idle,
  cases.processes,
  cases.replicas,
  cases.startup,
  cases.claims,
  cases.sandbox,
  cases.ledger,
];

const argv = process.argv.slice(2);
const { values } = parseArgs({
  args: argv,
  options: {
    runs: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'docs/BENCHMARKS.md') },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    `npm run bench [-- options]\n  --runs N     runs of each case (default 3); medians are reported\n  --quick      a short smoke run: smaller sizes\n  --only a,b   cases by number or name: ${ALL.map((c) => `${c.id} ${c.name}`).join(', ')}\n  --out FILE   where the report goes (default docs/BENCHMARKS.md, its bench section only)\n  --no-write   print the table only\n`,
  );
  process.exit(0);
}
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write(
    `bench: --runs must be a whole number of at least 1, got "${values.runs}"\n`,
  );
  process.exit(2);
}
const wanted = values.only
  ?.split(',')
  .map((name) => name.trim())
  .filter(Boolean);
const unknown = wanted?.filter((name) => !ALL.some((c) => c.id === name || c.name === name)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(
    `bench: unknown case ${unknown.join(', ')}; cases are ${ALL.map((c) => `${c.id} (${c.name})`).join(', ')}\n`,
  );
  process.exit(2);
}
const selected = wanted ? ALL.filter((c) => wanted.includes(c.id) || wanted.includes(c.name)) : ALL;

const host = machine();
const loadBefore = host.load;
const started = Date.now();
const groups = [];
let failed = false;
for (const benchCase of selected) {
  const group = {
    id: benchCase.id,
    title: benchCase.title,
    describe: benchCase.describe,
    rows: [],
    extras: [],
  };
  groups.push(group);
  const results = [];
  for (let run = 1; run <= runs; run++) {
    log(`case ${benchCase.id} (${benchCase.name}), run ${run}/${runs}`);
    const dir = tempDir(`sheri-bench-${benchCase.name}-`);
    const t0 = Date.now();
    try {
      const result = await benchCase.run({ quick: values.quick, dir, run });
      const { metrics, extras, skipped } = Array.isArray(result) ? { metrics: result } : result;
      if (skipped) {
        group.skipped = skipped;
        log(`case ${benchCase.id} skipped: ${skipped}`);
        break;
      }
      results.push(metrics);
      if (extras) group.extras = extras;
      log(`case ${benchCase.id} run ${run}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } catch (error) {
      failed = true;
      group.skipped = `failed in run ${run}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
      log(`case ${benchCase.id} failed: ${error instanceof Error ? error.stack : error}`);
      break;
    } finally {
      removeDir(dir);
    }
  }
  if (results.length > 0 && group.skipped?.startsWith('failed')) {
    group.extras.push(`Only ${results.length} run(s) finished before: ${group.skipped}.`);
    delete group.skipped;
  }
  group.rows = summarizeRuns(results);
  if (benchCase.derive) group.rows.push(...benchCase.derive(group.rows));
}
// sheri / BullMQ, once both sides ran.
const bullmqGroup = groups.find((group) => group.id === cases.bullmq.id);
const dispatchGroup = groups.find((group) => group.id === cases.dispatch.id);
const floorGroup = groups.find((group) => group.id === cases.floor.id);
if (bullmqGroup && dispatchGroup)
  bullmqGroup.rows.push(
    ...cases.deriveRatios([
      ...(floorGroup?.rows ?? []),
      ...dispatchGroup.rows,
      ...bullmqGroup.rows,
    ]),
  );

const after = machine();
const command = `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
const underLoad = Number(loadBefore.split(' ')[0]) > host.cpus * 0.25;
process.stdout.write(`\n${renderTable(groups)}\n\n`);
process.stdout.write(
  `${host.cpus} × ${host.cpu}, node ${host.node}; load before ${loadBefore}, after ${after.load}${underLoad ? ' (taken under load)' : ''}; ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
);
if (!values['no-write']) {
  const section = renderMarkdown({
    machine: host,
    command,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    runs,
    quick: values.quick,
    loadBefore,
    loadAfter: after.load,
    underLoad,
    groups,
    notes: [
      'How to read it: every figure is the median of the runs (each run\'s value listed); "met"/"missed" compare that median with the goal of issue 10 (or 9), and say by how much in the figure\'s unit and in % of the target. The bench, the brokers, the hub, the agents and redis share the same cores, so throughput here is what one machine does with everything on it.',
    ],
  });
  let document = '';
  try {
    document = readFileSync(values.out, 'utf8');
  } catch {
    document = '# Benchmarks and fault runs\n';
  }
  writeFileSync(values.out, spliceSection(document, section));
  log(`wrote ${values.out}`);
}
process.exitCode = failed ? 1 : 0;
