import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CredentialStore } from '../auth/credential-store.js';
import type { Config } from '../config/load.js';
import type { EmbeddedBroker } from '../broker/embedded-broker.js';
import { EXIT, SheriError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { DEFAULT_ROLES, knownRoles } from '../protocol/task-types.js';
import { resolveLlmSettings } from '../llm/settings.js';
import { prepareSurroundings, type AgentSurroundings } from '../agent/agent-setup.js';
import { checkGuardMarkers } from '../tools/protected-files.js';
import { didYouMean } from './suggest.js';
import { BROKER_PART, DataDir, hubPart, storageFailure, type DataDirPart } from './data-dir.js';
import { Startup } from './startup.js';
import { upNextSteps } from './next-steps.js';
import { makeConfig, makeLogger, shortId, untilSignal, type GlobalFlags } from './common.js';

export interface ServeFlags extends GlobalFlags {
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

/** `sheri broker`: the embedded broker alone. */
export async function runBroker(flags: ServeFlags): Promise<void> {
  await serve(
    flags,
    'sheri broker',
    flags.memory ? [] : [BROKER_PART],
    async (startup, config, logger) => {
      const broker = await startBroker(flags, config, logger);
      startup.add(() => broker.close());
    },
  );
}

/** `sheri hub`: the coordinator, on SQLite in the data directory or on PostgreSQL. */
export async function runHub(flags: ServeFlags): Promise<void> {
  const swarm = makeConfig(flags).swarm;
  // On PostgreSQL no file of the data directory is the ledger, and the hubs of one ledger
  // may share a data directory (its credential store): nothing to lock but its check.
  const parts = makeConfig(flags).ledgerUrl === undefined ? [hubPart(swarm)] : [];
  await serve(flags, 'sheri hub', parts, async (startup, config, logger, signal) => {
    if (config.ledgerUrl !== undefined) return startElectedHub(startup, config, logger);
    const { Hub } = await import('../tasks/hub.js');
    const hub = await Hub.start(
      { config, logger, ledgerPath: ledgerPathFor(config.dataDir, config.swarm) },
      signal,
    );
    startup.add(() => hub.close());
    // A credential revoked or rotated while it runs: the broker will not let it in again.
    return { failed: hub.bus.loginRefused() };
  });
}

/**
 * `sheri hub --ledger postgres://…`: lead or stand by (hub-election.ts); `failed` settles with
 * the error that stops the hub (the ledger gone for good), if one does.
 */
async function startElectedHub(
  startup: Startup,
  config: Config,
  logger: Logger,
): Promise<{ failed: Promise<Error> }> {
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
  startup.add(() => election.close());
  return { failed };
}

/**
 * `sheri broker` and `sheri hub`: the config and the data directory checked and locked first,
 * then `start`; a failure stops whatever had started. Runs until Ctrl-C, or until `start`'s
 * `failed` settles with an error (its own exit code if a SheriError, else 3).
 */
async function serve(
  flags: ServeFlags,
  command: string,
  parts: readonly DataDirPart[],
  start: (
    startup: Startup,
    config: Config,
    logger: Logger,
    signal: AbortSignal,
  ) => Promise<{ failed: Promise<Error> } | void>,
): Promise<void> {
  const logger = makeLogger(flags);
  const config = makeConfig(flags);
  checkTlsFlags(flags);
  refuseIfTampered(config.dataDir);
  const startup = new Startup(logger);
  // Listening from here, not once started: a Ctrl-C or SIGTERM while it starts (a hub still
  // waiting for its broker) ends the start and stops what had started, instead of killing the
  // process halfway with its data directory still locked.
  const signalled = untilSignal();
  const abort = new AbortController();
  void signalled.then((signal) => abort.abort(new Error(`received ${signal}`)));
  let started: { failed: Promise<Error> } | void;
  try {
    const dataDir = DataDir.open(config.dataDir, command, parts);
    startup.add((failed) => (failed ? dataDir.abandon() : dataDir.release()));
    started = await start(startup, config, logger, abort.signal);
  } catch (error) {
    await startup.stop(true);
    if (abort.signal.aborted) {
      logger.info(`${command.replace('sheri ', '')} stopped before it had started`);
      return;
    }
    throw storageFailure(error, config.dataDir) ?? error;
  }
  const outcome = await Promise.race(started ? [signalled, started.failed] : [signalled]);
  await startup.stop(false);
  if (outcome instanceof SheriError) throw outcome;
  if (outcome instanceof Error) throw new SheriError(outcome.message, EXIT.unavailable);
  logger.info(`${command.replace('sheri ', '')} stopped`);
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
  // The store is created on first start (PROTOCOL §15.2), even for an open broker, so that the
  // hub and local commands of this data directory can sign.
  const store = CredentialStore.openOrCreate(config.dataDir);
  try {
    return await EmbeddedBroker.start({
      port: flags.port,
      host: flags.host,
      logger,
      maxPayloadBytes: config.maxPayloadBytes,
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
    throw (
      storageFailure(error, config.dataDir) ??
      new SheriError(`cannot start the broker: ${(error as Error).message}`, EXIT.unavailable, {
        cause: error,
      })
    );
  }
}

/** Checked before anything starts. */
function checkTlsFlags(flags: ServeFlags): void {
  if ((flags.tlsPort !== undefined) !== Boolean(flags.tlsCert && flags.tlsKey)) {
    throw new SheriError('--tls-port, --tls-cert and --tls-key go together', EXIT.usage);
  }
  for (const file of [flags.tlsCert, flags.tlsKey]) {
    if (file !== undefined && !existsSync(file)) {
      throw new SheriError(`--tls-cert/--tls-key: no file ${file}`, EXIT.usage);
    }
  }
}

export async function runUp(flags: ServeFlags): Promise<void> {
  // `up` is the broker: a --broker would be silently ignored, and the user's agents sent elsewhere.
  if (flags.broker !== undefined) {
    throw new SheriError(
      `sheri up runs its own broker, so --broker ${flags.broker} would be ignored: --port and --host say where it listens; to use that broker, run sheri hub --broker ${flags.broker} instead`,
      EXIT.usage,
    );
  }
  // Everything that can be checked is checked before anything starts (config: exit 4, usage: 2).
  const logger = makeLogger(flags);
  const startConfig = makeConfig(flags);
  const roles = checkRoles(parseAgentList(flags.agents), startConfig);
  checkTlsFlags(flags);
  refuseIfTampered(startConfig.dataDir);
  const startup = new Startup(logger);
  const signalled = untilSignal(); // as serve(): a signal while it starts stops it once started
  try {
    const dataDir = DataDir.open(startConfig.dataDir, 'sheri up', [
      BROKER_PART,
      hubPart(startConfig.swarm),
    ]);
    startup.add((failed) => (failed ? dataDir.abandon() : dataDir.release()));
    const surroundings = new Map<string, AgentSurroundings>();
    // A wrong LLM setting (--llm anthropic without a key) or a sandbox that can't be had stops
    // here, before anything listens.
    for (const role of new Set(roles)) {
      resolveLlmSettings(startConfig.llm, role);
      const prepared = prepareSurroundings({
        config: startConfig,
        role,
        workspace: flags.workspace ?? process.cwd(),
        dataDir: startConfig.dataDir,
      });
      // Roles with the same sandbox share it (agent-setup.ts): close each one once.
      if (![...surroundings.values()].some((other) => other.sandbox === prepared.sandbox)) {
        startup.add(() => prepared.sandbox.close());
      }
      surroundings.set(role, prepared);
    }
    const broker = await startBroker(flags, startConfig, logger);
    startup.add(() => broker.close());
    const config = makeConfig(flags, { broker: broker.url.replace('0.0.0.0', '127.0.0.1') });
    const { Hub } = await import('../tasks/hub.js');
    const { leaveWhenRefused, startReplicas, stopReplicas } = await import('../agent/replicas.js');
    const hub = await Hub.start({
      config,
      logger,
      ledgerPath: ledgerPathFor(config.dataDir, config.swarm),
    });
    startup.add(() => hub.close());
    // Each role's agents start together, as replicas: `--agents testing=500` is 500 connections.
    const counts = new Map<string, number>();
    for (const role of roles) counts.set(role, (counts.get(role) ?? 0) + 1);
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
      startup.add(() => stopReplicas(started, 'sheri up stopped'));
      // One revoked (`sheri credentials revoke <agent>`) leaves; the swarm goes on without it.
      void leaveWhenRefused(started, logger).then(async (error) => {
        logger.error(`${error.message}; no ${role} agent of this "sheri up" is left`);
        await stopReplicas(started, 'the broker refused its login');
      });
    }
    const next = upNextSteps(
      config,
      { host: flags.host, port: Number(new URL(broker.url).port) },
      roles,
      process.cwd(),
    );
    logger.info(
      `swarm "${config.swarm}" is up on ${broker.url}${broker.tlsPort ? ` (mqtts on ${broker.tlsPort})` : ''} — next, in another terminal of this folder:\n${next.map((line) => `  ${line}`).join('\n')}`,
    );
  } catch (error) {
    await startup.stop(true);
    throw storageFailure(error, startConfig.dataDir) ?? error;
  }
  await signalled;
  await startup.stop(false);
  logger.info('swarm stopped');
}

/** `--agents`' roles, each one the swarm knows (the config file may add roles). */
function checkRoles(roles: string[], config: Config): string[] {
  const known = knownRoles(config.taskTypes);
  const unknown = roles.find((role) => !known.includes(role));
  if (unknown) {
    throw new SheriError(
      `--agents: unknown role "${unknown}"${didYouMean(unknown, known)}; roles are ${known.join(', ')}`,
      EXIT.usage,
    );
  }
  return roles;
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
