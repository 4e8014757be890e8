#!/usr/bin/env node
// A hub and N agents in ONE process against a broker of another (mosquitto): the "one process"
// topology where `sheri up` cannot serve, since it always brings its own broker.
//
//   node scripts/bench/swarm-process.mjs --broker URL --swarm S --data-dir D --config F \
//        --workspace W --agents 4 [--sandbox none]
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { prepareSurroundings } from '../../dist/src/agent/agent-setup.js';
import { startReplicas, stopReplicas } from '../../dist/src/agent/replicas.js';
import { loadConfig } from '../../dist/src/config/load.js';
import { createLogger } from '../../dist/src/logging/logger.js';
import { Hub } from '../../dist/src/tasks/hub.js';

const { values } = parseArgs({
  options: {
    broker: { type: 'string' },
    swarm: { type: 'string' },
    'data-dir': { type: 'string' },
    config: { type: 'string' },
    workspace: { type: 'string' },
    agents: { type: 'string', default: '4' },
    sandbox: { type: 'string' },
    'no-signing': { type: 'boolean' },
  },
});
const flags = {
  broker: values.broker,
  swarm: values.swarm,
  dataDir: values['data-dir'],
  config: values.config,
  ...(values.sandbox ? { sandbox: values.sandbox } : {}),
  ...(values['no-signing'] ? { signing: false } : {}),
};
const config = loadConfig(flags);
const logger = createLogger({ format: 'json', level: 'error' });
const hub = await Hub.start({
  config,
  logger,
  ledgerPath: join(config.dataDir, `hub-${config.swarm}.sqlite`),
});
const surroundings = prepareSurroundings({
  config,
  role: 'testing',
  workspace: values.workspace,
  dataDir: config.dataDir,
});
const agents = await startReplicas({
  config,
  role: 'testing',
  count: Number(values.agents),
  concurrency: 1,
  prefix: 'bench',
  surroundings,
  logger,
});
process.stderr.write(`swarm process ready: hub and ${agents.length} agents\n`);
await new Promise((resolve) => process.once('SIGTERM', resolve));
await stopReplicas(agents, 'bench over');
await surroundings.sandbox.close();
await hub.close();
