import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { requirePostgres, TestPostgres } from '../helpers/postgres.js';
import { runMixedScenario } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';

const hasPostgres = requirePostgres();

describe.runIf(hasPostgres)('exactly-once claiming on the PostgreSQL ledger', () => {
  let server: TestPostgres;
  let swarm: TestSwarm;
  beforeAll(async () => {
    server = await TestPostgres.start();
  }, 30_000);
  afterAll(async () => server?.close());
  afterEach(async () => swarm.close());

  it('runs 200 mixed tasks exactly once each, every one on an agent whose role may run it', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const url = await server.createDatabase('exactly_once');
    await runMixedScenario(swarm, undefined, () => swarm.startElectedHub(url));
  });
});
