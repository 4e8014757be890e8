// Case 11 (issue 15): dispatch throughput with the hub's ledger on PostgreSQL against SQLite,
// broker + hub + 4 agents × 1 as separate processes, both swarms in the same run, interleaved.
import { join } from 'node:path';
import { startPostgres } from '../postgres.mjs';
import { AGENTS, burst, startSwarm } from '../sheri-swarm.mjs';

const STORES = ['sqlite', 'postgres'];
const KINDS = ['noop', 'true'];
const tasksFor = (quick) => (quick ? 200 : 1_000);
const LAYOUT = { broker: 'embedded', processes: 'separate' };

const storeName = (store) => (store === 'sqlite' ? 'SQLite' : 'PostgreSQL');
const kindName = (kind) => (kind === 'noop' ? 'dispatch only' : '`true`');

/**
 * The order of the two stores in run `run` (1, 2, …): SQLite first in odd runs, PostgreSQL first
 * in even ones, so that neither always goes first (warmer caches, a quieter machine). Pure.
 */
export function storeOrder(run) {
  return run % 2 === 1 ? [...STORES] : [...STORES].reverse();
}

export const ledger = {
  id: '11',
  name: 'ledger',
  title: `The hub's ledger on PostgreSQL and on SQLite (broker + hub + ${AGENTS} agents × 1, separate processes)`,
  describe: [
    `Two swarms side by side, each \`sheri broker\` + \`sheri hub\` + ${AGENTS} × \`sheri agent\` (the _embedded broker, separate processes_ layout of case 2): one hub on its SQLite ledger in \`--data-dir\` (WAL, \`synchronous = NORMAL\`), one with \`--ledger postgres://…\` on a PostgreSQL server the bench starts for the run (initdb into a temp dir as the \`postgres\` user, a free port on 127.0.0.1, TCP with a password, the distribution's settings but \`synchronous_commit=off\`, the same durability as SQLite's \`NORMAL\`; stopped and removed after the run).`,
    '',
    `N tasks (1,000; 200 with \`--quick\`) in one burst from one signed operator client, timed from the first submit to the last outcome, as in case 2: _dispatch only_ a task its agent fails at once, _\`true\`_ a task running \`true\` (\`--sandbox none\`). Interleaved: for each kind, one burst on each swarm back to back, SQLite first in odd runs and PostgreSQL first in even ones; both swarms stay up for the whole run (the idle one costs little). The ratio is PostgreSQL / SQLite of the two bursts of a kind in the same run, and its median over the runs (paired, so that load from elsewhere during one run slows both sides); the goal (issue 15) is PostgreSQL within 2× of SQLite, ≥ 0.5 ×.`,
  ].join('\n'),
  async run({ quick, dir, run }) {
    const server = await startPostgres();
    if (!server)
      return {
        skipped:
          'PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; apt-get install postgresql)',
      };
    const swarms = {};
    try {
      const url = await server.createDatabase('ledger');
      swarms.sqlite = await startSwarm(join(dir, 'sqlite'), LAYOUT, { sandbox: 'none' });
      swarms.postgres = await startSwarm(join(dir, 'postgres'), LAYOUT, {
        sandbox: 'none',
        hubArgs: ['--ledger', url],
      });
      const n = tasksFor(quick);
      const order = storeOrder(run ?? 1);
      // Warm-up: the first tasks pay for the JIT, the first pages and the pool's connection.
      for (const store of order) await burst(swarms[store], 'dispatch', 20);
      const metrics = [];
      for (const kind of KINDS) {
        for (const store of order) {
          const result = await burst(swarms[store], kind === 'noop' ? 'dispatch' : 'true', n);
          metrics.push({
            key: `ledger.${store}.${kind}`,
            label: `${storeName(store)} ledger: ${kindName(kind)}`,
            unit: 'tasks/s',
            value: result.tasksPerS,
          });
        }
      }
      return [...metrics, ...ledgerRatios(metrics)];
    } finally {
      for (const swarm of Object.values(swarms)) await swarm?.stop();
      await server.close();
    }
  },
};

/**
 * PostgreSQL / SQLite for each kind within one run, from that run's metrics: the two bursts of a
 * kind ran back to back, so a machine that got busier slows both; the report's median is then
 * the median of these paired ratios (the goal of issue 15: within 2×, so ≥ 0.5). Pure.
 */
export function ledgerRatios(metrics) {
  const byKey = new Map(metrics.map((metric) => [metric.key, metric]));
  const ratios = [];
  for (const kind of KINDS) {
    const pg = byKey.get(`ledger.postgres.${kind}`);
    const sqlite = byKey.get(`ledger.sqlite.${kind}`);
    if (!pg || !sqlite || !(sqlite.value > 0)) continue;
    ratios.push({
      key: `ledger.ratio.${kind}`,
      label: `PostgreSQL / SQLite, same run: ${kindName(kind)}`,
      unit: '×',
      value: pg.value / sqlite.value,
      goal: { op: '>=', target: 0.5, text: '≥ 0.5 × SQLite (within 2×)' },
    });
  }
  return ratios;
}
