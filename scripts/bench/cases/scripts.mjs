// The benches that came before issue 10, run as they are (their own processes and output):
// claims through 20 agents × 2, signed against unsigned (issue 9), and the sandbox's cost.
import { join } from 'node:path';
import { ROOT, startProcess } from '../lib.mjs';

async function runScript(file, env) {
  const proc = startProcess(process.execPath, [join(ROOT, 'scripts', file)], { env });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`scripts/${file} exited ${code}:\n${proc.output().slice(-2000)}`);
  return proc.output();
}

const fence = (text) => `\`\`\`\n${text.trim()}\n\`\`\``;

export const claims = {
  id: '9',
  name: 'claims',
  title: 'Claims through 20 agents × 2, signed against unsigned (scripts/bench-claims.mjs)',
  describe:
    "`scripts/bench-claims.mjs` as it was before issue 10: a hub and 20 agents × 2 in one process, 2,000 tasks running `true` (200 with `--quick`), on the embedded broker (authenticated) and on mosquitto, unsigned then signed; its own output below (last run). The figure kept is signing's cost in dispatch throughput (issue 9: under 10 %).",
  async run({ quick }) {
    const output = await runScript(
      'bench-claims.mjs',
      quick ? { BENCH_TASKS: '200', BENCH_SINGLES: '10' } : {},
    );
    const metrics = [];
    const line = /^(.+): (\d+) tasks\/s unsigned, (\d+) signed: signing costs (-?[\d.]+) %/gm;
    for (const [, broker, unsigned, signed, cost] of output.matchAll(line)) {
      const name = broker.startsWith('embedded') ? 'embedded' : 'mosquitto';
      metrics.push(
        {
          key: `claims.${name}.unsigned`,
          label: `${broker}: unsigned`,
          unit: 'tasks/s',
          value: Number(unsigned),
        },
        {
          key: `claims.${name}.signed`,
          label: `${broker}: signed`,
          unit: 'tasks/s',
          value: Number(signed),
        },
        {
          key: `claims.${name}.signing-cost`,
          label: `${broker}: signing's cost`,
          unit: '%',
          value: Number(cost),
          goal: { op: '<=', target: 10, text: '≤ 10 % (issue 9)' },
        },
      );
    }
    if (metrics.length === 0)
      throw new Error(
        `scripts/bench-claims.mjs printed no signing figures:\n${output.slice(-2000)}`,
      );
    return { metrics, extras: [fence(output)] };
  },
};

export const sandbox = {
  id: '10',
  name: 'sandbox',
  title: 'What the sandbox costs a command (scripts/bench-sandbox.mjs)',
  describe:
    "`scripts/bench-sandbox.mjs`: `true` 200 times (30 with `--quick`) through the agent's process runner, bare and in bubblewrap, interleaved; its own output below (last run).",
  async run({ quick }) {
    const output = await runScript('bench-sandbox.mjs', quick ? { BENCH_SANDBOX_RUNS: '30' } : {});
    const overhead = /overhead: median (-?[\d.]+) ms per command/.exec(output);
    if (!overhead)
      throw new Error(`scripts/bench-sandbox.mjs printed no overhead:\n${output.slice(-2000)}`);
    const row = (name) =>
      Number(new RegExp(`\\| ${name}[^|]*\\|\\s*\\d+\\s*\\|\\s*([\\d.]+)`).exec(output)?.[1]);
    return {
      metrics: [
        {
          key: 'sandbox.none',
          label: '`true` without a sandbox, median',
          unit: 'ms',
          value: row('bash'),
        },
        {
          key: 'sandbox.bwrap',
          label: '`true` in bubblewrap, median',
          unit: 'ms',
          value: row('bubblewrap'),
        },
        {
          key: 'sandbox.overhead',
          label: 'sandbox overhead per command',
          unit: 'ms',
          value: Number(overhead[1]),
          goal: { op: '<=', target: 10, text: '≤ 10 ms (issue 8)' },
        },
      ],
      extras: [fence(output)],
    };
  },
};
