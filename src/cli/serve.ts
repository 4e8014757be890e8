import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { CredentialStore } from '../auth/credential-store.js';
import type { Config } from '../config/load.js';
import type { Agent } from '../agent/agent.js';
import type { EmbeddedBroker } from '../broker/embedded-broker.js';
import { DEFAULTS } from '../config/defaults.js';
import { EXIT, SheriError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { DEFAULT_ROLES, knownRoles } from '../protocol/task-types.js';
import { resolveLlmSettings } from '../llm/settings.js';
import { addLlmOptions, LLM_HELP } from './llm-options.js';
import { SANDBOX_OPTION_HELP } from './agent.js';
import { prepareSurroundings, type AgentSurroundings } from '../agent/agent-setup.js';
import { checkGuardMarkers } from '../tools/protected-files.js';
import {
  addSwarmOptions,
  makeConfig,
  makeLogger,
  parsePositiveInt,
  shortId,
  untilSignal,
  type GlobalFlags,
} from './common.js';

interface ServeFlags extends GlobalFlags {
  port: number;
  host: string;
  memory?: boolean;
  agents?: string;
  workspace?: string;
  /** false with --no-auth: an open broker. */
  auth: boolean;
  insecure?: boolean;
  tlsPort?: number;
  tlsCert?: string;
  tlsKey?: string;
}

/** The embedded broker's security options (PROTOCOL §15.3), for `up` and `broker`. */
function addBrokerOptions(command: Command): Command {
  return command
    .option(
      '--no-auth',
      'an open broker: no credentials asked, anyone may publish anything (loopback only unless --insecure)',
    )
    .option('--insecure', 'let an open broker (--no-auth) listen beyond 127.0.0.1')
    .option(
      '--tls-port <port>',
      'also listen for mqtts:// on this port',
      parsePositiveInt('--tls-port'),
    )
    .option('--tls-cert <file>', 'certificate (PEM) of the mqtts:// listener')
    .option('--tls-key <file>', 'private key (PEM) of the mqtts:// listener');
}

const SECURITY_HELP = `
Security (docs/PROTOCOL.md §15): on first start the credential store is created in the data
directory (credentials.json, mode 0600); local commands use it with no flag. Clients must log
in, except anonymous readers on loopback (mosquitto_sub -t '<swarm>/#' -v), who see redacted
copies. For another machine: sheri credentials add --kind agent --role testing --name box-1`;

export function registerServeCommands(program: Command): void {
  addSwarmOptions(
    addBrokerOptions(addLlmOptions(program.command('up')))
      .description('start the embedded broker and the hub in one process (optionally local agents)')
      .option(
        '--port <port>',
        'TCP port of the embedded broker',
        parsePositiveInt('--port'),
        DEFAULTS.port,
      )
      .option('--host <host>', 'interface to listen on (0.0.0.0 for other machines)', DEFAULTS.host)
      .option(
        '--agents <roles>',
        'also run local agents, e.g. "testing=3,deployment" (role[=count],…)',
      )
      .option(
        '--workspace <dir>',
        'working directory of local agents (default: the current directory)',
      )
      .option('--sandbox <mode>', SANDBOX_OPTION_HELP)
      .addHelpText('after', LLM_HELP)
      .addHelpText('after', SECURITY_HELP)
      .addHelpText(
        'after',
        `
The embedded default: everything a swarm needs on one machine, state under --data-dir.
Agents elsewhere join with: sheri agent --role testing --broker mqtt://<this-host>:<port>

Examples:
  sheri up
  sheri up --agents testing=3,deployment=2 --swarm demo
  sheri up --agents testing=500             (500 agents in this process: a large simulated swarm)
  sheri up --port 1884 --data-dir /var/lib/sheri`,
      ),
  ).action(async (flags: ServeFlags) => runUp(flags));

  addSwarmOptions(
    addBrokerOptions(
      program
        .command('broker')
        .description('run the embedded MQTT broker only (aedes; persistent sessions on disk)')
        .option('--port <port>', 'TCP port', parsePositiveInt('--port'), DEFAULTS.port)
        .option(
          '--host <host>',
          'interface to listen on (0.0.0.0 for other machines)',
          DEFAULTS.host,
        )
        .option('--memory', 'keep no state on disk'),
    ).addHelpText('after', SECURITY_HELP),
  ).action(async (flags: ServeFlags) => {
    const logger = makeLogger(flags);
    const broker = await startBroker(flags, makeConfig(flags), logger);
    await untilSignal();
    await broker.close();
    logger.info('broker stopped');
  });

  addSwarmOptions(
    program
      .command('hub')
      .description(
        "run the swarm's coordinator against any broker: ledger, claims, leases, retries",
      )
      .addHelpText(
        'after',
        `
Run exactly one hub per swarm. It records every task in SQLite (<data-dir>/hub-<swarm>.sqlite)
before granting it, so tasks and their state survive a restart. It holds the swarm's credential
store (<data-dir>/credentials.json, created on first start): issue the other machines'
credentials where it runs (sheri credentials add), and give mosquitto its files
(sheri credentials mosquitto --out DIR). With "budget": { "dailyUsd": 20, "flowUsd": 2 } in its
sheri.config.json, it grants prompt tasks only while the swarm's LLM spending (results and running
tasks' heartbeats, all agents) leaves room, and refuses the rest (tasks/dead).

With --ledger postgres://… (env SHERI_LEDGER, or "ledger": { "url": … } in sheri.config.json)
the ledger is in PostgreSQL instead, and several hubs may run on it: one leads, the others stand
by and take over within a few seconds of its death (docs/DEPLOY.md). Every hub needs the same
credential store (copy credentials.json into each one's --data-dir). Prefer PGPASSWORD or a
~/.pgpass file to a password in the URL.

Examples:
  sheri hub --broker mqtt://mosquitto:1883 --swarm prod
  sheri hub --broker mqtt://mosquitto:1883 --swarm prod --ledger postgres://sheri@db/sheri_prod`,
      )
      .option(
        '--ledger <url>',
        'postgres://… : the ledger in PostgreSQL, for several hubs (env SHERI_LEDGER; default: SQLite in --data-dir)',
      ),
  ).action(async (flags: ServeFlags) => {
    const config = makeConfig(flags);
    refuseIfTampered(config.dataDir);
    const logger = makeLogger(flags);
    if (config.ledgerUrl !== undefined) return runElectedHub(config, logger);
    const { Hub } = await import('../tasks/hub.js');
    const hub = await Hub.start({
      config,
      logger,
      ledgerPath: ledgerPathFor(config.dataDir, config.swarm),
    });
    await untilSignal();
    await hub.close();
    logger.info('hub stopped');
  });
}

/** `sheri hub --ledger postgres://…`: lead or stand by until a signal, or a fatal error. */
async function runElectedHub(config: Config, logger: Logger): Promise<void> {
  const { HubElection } = await import('../tasks/hub-election.js');
  const { isPostgresUrl } = await import('../tasks/postgres-ledger.js');
  const url = config.ledgerUrl!;
  if (!isPostgresUrl(url)) {
    throw new SheriError(
      '--ledger must be a postgres:// URL (or leave it out for SQLite)',
      EXIT.usage,
    );
  }
  let fatal: (error: Error) => void = () => undefined;
  const failed = new Promise<Error>((resolve) => (fatal = resolve));
  let election;
  try {
    election = await HubElection.start({ url, config, logger, onFatal: (error) => fatal(error) });
  } catch (error) {
    throw new SheriError(`cannot open the ledger: ${(error as Error).message}`, EXIT.unavailable);
  }
  const outcome = await Promise.race([untilSignal(), failed]);
  await election.close();
  if (outcome instanceof Error) throw new SheriError(outcome.message, EXIT.unavailable);
  logger.info('hub stopped');
}

/** A process that died while a task created one of sheri's own files: check it before trusting it. */
function refuseIfTampered(dataDir: string): void {
  const why = checkGuardMarkers(dataDir);
  if (why) throw new SheriError(`refusing to start: ${why}`, EXIT.config);
}

export function ledgerPathFor(dataDir: string, swarm: string): string {
  return join(dataDir, `hub-${swarm}.sqlite`);
}

async function startBroker(
  flags: ServeFlags,
  config: Config,
  logger: Logger,
): Promise<EmbeddedBroker> {
  // Imported when needed, so commands that do not serve start fast.
  const { EmbeddedBroker } = await import('../broker/embedded-broker.js');
  if ((flags.tlsPort !== undefined) !== Boolean(flags.tlsCert && flags.tlsKey)) {
    throw new SheriError('--tls-port, --tls-cert and --tls-key go together', EXIT.usage);
  }
  // The store is created on first start (PROTOCOL §15.2), even for an open broker, so that the
  // hub and local commands of this data directory can sign.
  const store = CredentialStore.openOrCreate(config.dataDir);
  try {
    return await EmbeddedBroker.start({
      port: flags.port,
      host: flags.host,
      logger,
      ...(flags.memory ? {} : { dataDir: join(config.dataDir, 'broker') }),
      ...(flags.auth === false ? {} : { auth: store }),
      ...(flags.insecure ? { insecure: true } : {}),
      ...(flags.tlsPort !== undefined
        ? {
            tls: {
              port: flags.tlsPort,
              cert: readFileSync(flags.tlsCert!),
              key: readFileSync(flags.tlsKey!),
            },
          }
        : {}),
    });
  } catch (error) {
    throw new SheriError(`cannot start the broker: ${(error as Error).message}`, EXIT.unavailable);
  }
}

async function runUp(flags: ServeFlags): Promise<void> {
  const logger = makeLogger(flags);
  const roles = parseAgentList(flags.agents);
  const startConfig = makeConfig(flags);
  refuseIfTampered(startConfig.dataDir);
  const broker = await startBroker(flags, startConfig, logger);
  const config = makeConfig(flags, { broker: broker.url.replace('0.0.0.0', '127.0.0.1') });
  const roleNames = knownRoles(config.taskTypes);
  const unknown = roles.find((role) => !roleNames.includes(role));
  if (unknown) {
    await broker.close();
    throw new SheriError(`--agents: unknown role "${unknown}"; roles are ${roleNames.join(', ')}`);
  }
  const surroundings = new Map<string, AgentSurroundings>();
  try {
    // A wrong LLM setting (--llm anthropic without a key) or a sandbox that can't be had stops
    // here, before anything runs.
    for (const role of new Set(roles)) {
      resolveLlmSettings(config.llm, role);
      surroundings.set(
        role,
        prepareSurroundings({
          config,
          role,
          workspace: flags.workspace ?? process.cwd(),
          dataDir: config.dataDir,
        }),
      );
    }
  } catch (error) {
    await broker.close();
    throw error;
  }
  const { Hub } = await import('../tasks/hub.js');
  const { startReplicas, stopReplicas } = await import('../agent/replicas.js');
  const hub = await Hub.start({
    config,
    logger,
    ledgerPath: ledgerPathFor(config.dataDir, config.swarm),
  });
  const agents: Agent[] = [];
  // Each role's agents start together, as replicas: `--agents testing=500` is 500 connections.
  const counts = new Map<string, number>();
  for (const role of roles) counts.set(role, (counts.get(role) ?? 0) + 1);
  try {
    for (const [role, count] of counts) {
      const started = await startReplicas({
        config,
        role,
        count,
        concurrency: 1,
        prefix: `${role}-${shortId()}`,
        surroundings: surroundings.get(role)!,
        logger,
      });
      agents.push(...started);
    }
  } catch (error) {
    await stopReplicas(agents, 'sheri up could not start');
    await hub.close();
    await broker.close();
    throw error;
  }
  logger.info(
    `swarm "${config.swarm}" is up on ${broker.url}${broker.tlsPort ? ` (mqtts on ${broker.tlsPort})` : ''} — submit a task: sheri task submit --swarm ${config.swarm} --broker ${broker.url} --type testing.run --command "npm test" --wait`,
  );
  await untilSignal();
  await stopReplicas(agents, 'sheri up stopped');
  for (const { sandbox } of new Set(surroundings.values())) await sandbox.close();
  await hub.close();
  await broker.close();
  logger.info('swarm stopped');
}

/** "testing=3,deployment" → ["testing","testing","testing","deployment"]. */
export function parseAgentList(spec: string | undefined): string[] {
  if (!spec) return [];
  const roles: string[] = [];
  for (const part of spec
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)) {
    const match = /^([A-Za-z0-9_.-]+)\s*(?:=\s*(\d{1,4}))?$/.exec(part);
    const role = match?.[1];
    const count = match?.[2] === undefined ? 1 : Number(match[2]);
    if (!role || count < 1 || count > 1000) {
      throw new SheriError(
        `--agents: "${part}" is not role[=count]; e.g. --agents testing=3,deployment (roles: ${DEFAULT_ROLES.join(', ')})`,
      );
    }
    for (let i = 0; i < count; i++) roles.push(role);
  }
  return roles;
}
