#!/usr/bin/env node
// The fault suite of issue 14: scenarios 1–8 against real processes, a table of what was lost and
// what ran twice, docs/RELIABILITY.md rewritten with it.
//
//   npm run chaos                                   every scenario, embedded broker and mosquitto
//   node scripts/chaos/run.mjs --only 1,3 --broker embedded --quick
//   options: --only N,M  --broker embedded|mosquitto|both  --quick (scaled-down counts)
//            --sandbox auto|none (agents' --sandbox; default auto)  --keep (keep temp dirs, logs)
//            --no-doc (do not rewrite docs/RELIABILITY.md)
// Exit 0 when every scenario passed, 1 when one failed, 2 on a usage error.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs, UsageError } from './args.mjs';
import { writeReliability } from './report.mjs';
import { ChaosSwarm } from './swarm.mjs';
import { formatTable } from './table.mjs';
import { runTeardown } from './teardown.mjs';
import * as s1 from './scenarios/1-agent-kills.mjs';
import * as s2 from './scenarios/2-broker-outage.mjs';
import * as s3 from './scenarios/3-hub-kill.mjs';
import * as s4 from './scenarios/4-mixed-faults.mjs';
import * as s5 from './scenarios/5-ledger-disk-full.mjs';
import * as s6 from './scenarios/6-frozen-agent.mjs';
import * as s7 from './scenarios/7-poison-task.mjs';
import * as s8 from './scenarios/8-retry-backoff.mjs';

const SCENARIOS = [s1, s2, s3, s4, s5, s6, s7, s8];
const DOC = fileURLToPath(new URL('../../docs/RELIABILITY.md', import.meta.url));

let options;
try {
  options = parseArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`chaos: ${error.message}`);
  process.exit(2);
}

// Ctrl-C or a kill: end every process, mount and temp dir before leaving.
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.error(`\nchaos: ${signal}, tearing down`);
    void runTeardown().finally(() => process.exit(130));
  });
}

function haveMosquitto() {
  try {
    execFileSync('sh', ['-c', 'command -v mosquitto'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const started = new Date();
const results = [];
const log = (text) =>
  console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${text}`);

for (const scenario of SCENARIOS.filter((s) => options.only.includes(s.id))) {
  for (const broker of options.brokers) {
    for (const variant of scenario.variants(broker)) {
      if (stopping) break;
      const name = `${scenario.id}${variant.label ? ` ${variant.label}` : ''}`;
      const result = { scenario: name, broker, notes: [], pass: false };
      if (broker === 'mosquitto' && !haveMosquitto()) {
        results.push({ ...result, pass: null, notes: ['mosquitto is not installed'] });
        continue;
      }
      log(`scenario ${name} on ${broker}: ${scenario.title}`);
      const ctx = {
        quick: options.quick,
        limitMs: (options.quick ? 120 : 300) * 1000,
        createSwarm: (swarmOptions) =>
          ChaosSwarm.create({
            broker,
            sandbox: options.sandbox,
            keep: options.keep,
            ...swarmOptions,
          }),
      };
      try {
        const outcome = await scenario.run(ctx, variant);
        if (outcome.skipped) Object.assign(result, { pass: null, notes: [outcome.skipped] });
        else
          Object.assign(result, outcome.outcome, {
            criterion: outcome.criterion,
            pass: outcome.pass,
            notes: outcome.notes,
          });
      } catch (error) {
        result.error = error.message;
        result.criterion = `stopped: ${error.message}`;
      } finally {
        await runTeardown();
      }
      results.push(result);
      log(
        `  ${result.pass === true ? 'pass' : result.pass === false ? 'FAIL' : 'n/a'}: ${result.criterion ?? ''}` +
          (result.notes.length ? `\n         ${result.notes.join('\n         ')}` : ''),
      );
    }
  }
}

console.log(`\n${formatTable(results)}\n`);
if (options.doc && !stopping) {
  writeReliability(DOC, {
    command: `node scripts/chaos/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    started,
    rows: results,
    scenarios: SCENARIOS.filter((s) => options.only.includes(s.id)),
    results,
    quick: options.quick,
  });
  console.log(`written: ${DOC}`);
}
process.exit(results.every((r) => r.pass !== false) ? 0 : 1);
