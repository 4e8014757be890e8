import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Agent } from '../agent/agent.js';
import { prepareSurroundings } from '../agent/agent-setup.js';
import { CredentialStore } from '../auth/credential-store.js';
import type { EmbeddedBroker } from '../broker/embedded-broker.js';
import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { Hub } from '../tasks/hub.js';
import { agentArgv, sheriArgv } from '../tmux/pane-commands.js';
import { stopSwarm } from '../tmux/stop-swarm.js';
import type { Tmux } from '../tmux/tmux.js';
import { markPane, prepareWindow } from '../tmux/window-setup.js';
import { makeConfig, shortId, type GlobalFlags } from './common.js';
import { ledgerPathFor } from './serve.js';

/** examples/ of this package, found from this module's place (dist/src/cli, or src/cli). */
export function examplesDir(): string {
  for (const up of ['../../../examples/', '../../examples/']) {
    const dir = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(join(dir, 'deploy-flow.yaml'))) return dir;
  }
  throw new SheriError(
    `cannot find examples/deploy-flow.yaml beside this sheri (${fileURLToPath(import.meta.url)})`,
    EXIT.unavailable,
  );
}

/** How long agents in tmux panes get to join. */
const JOIN_WAIT_MS = 30_000;

export interface DemoSwarm {
  config: Config;
  broker: EmbeddedBroker;
  hub: Hub;
  /** Where it all lives: the service's copy, the data directory, the log. */
  root: string;
  workspace: string;
  dataDir: string;
  logFile: string;
  /** Agents run in this process, or in tmux panes. */
  agents: { agentId: string; role: string; sandbox: string }[];
  tmux?: { tmux: Tmux; session: string };
  close(): Promise<void>;
}

/**
 * What `sheri demo` runs on (PROTOCOL §17): a folder of its own in the temp directory with a
 * copy of examples/service, a data directory (credential store, broker state, ledger) and an
 * empty config file — so neither the folder it is run from nor a sheri.config.json there plays a
 * part — the embedded broker on a free port, the hub, and one agent per role the flow needs.
 */
export async function startDemoSwarm(options: {
  /** The demo's flags with its own swarm name, data directory and config file. */
  flags: GlobalFlags & { port?: number };
  roles: readonly string[];
  logger: Logger;
  logFile: string;
  root: string;
  tmux?: Tmux;
}): Promise<DemoSwarm> {
  const { root, logger, flags } = options;
  const workspace = join(root, 'service');
  const dataDir = flags.dataDir!;
  cpSync(join(examplesDir(), 'service'), workspace, { recursive: true });
  const store = CredentialStore.openOrCreate(dataDir);
  const { EmbeddedBroker } = await import('../broker/embedded-broker.js');
  const { Hub } = await import('../tasks/hub.js');
  const { Agent } = await import('../agent/agent.js');
  const closers: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    for (const closer of closers.reverse()) await closer().catch(() => undefined);
    closers.length = 0;
  };
  try {
    let broker: EmbeddedBroker;
    try {
      broker = await EmbeddedBroker.start({
        port: options.flags.port ?? 0,
        host: '127.0.0.1',
        logger,
        dataDir: join(dataDir, 'broker'),
        auth: store,
      });
    } catch (error) {
      throw new SheriError(
        `cannot start the broker: ${(error as Error).message}`,
        EXIT.unavailable,
      );
    }
    closers.push(() => broker.close());
    const config = makeConfig(flags, { broker: broker.url });
    const hub = await Hub.start({
      config,
      logger,
      ledgerPath: ledgerPathFor(dataDir, config.swarm),
    });
    closers.push(() => hub.close());
    const agents: DemoSwarm['agents'] = [];
    let tmux: DemoSwarm['tmux'];
    if (options.tmux) {
      tmux = await startAgentPanes(options.tmux, config, options.roles, {
        workspace,
        dataDir,
        configFile: flags.config!,
        logFile: options.logFile,
      });
      const session = tmux;
      closers.push(async () => void (await stopSwarm(session.tmux, session.session)));
      agents.push(...(await joined(hub, options.roles)));
    } else {
      const running: Agent[] = [];
      const sandboxes = new Set<{ close(): Promise<void> }>();
      // They say goodbye all at once (each waits only for its own tasks and services), then the
      // sandboxes they share give their cgroups back.
      closers.push(async () => {
        await Promise.all(running.map((agent) => agent.stop('sheri demo stopped')));
        for (const sandbox of sandboxes) await sandbox.close();
      });
      for (const role of options.roles) {
        const agentId = `${role}-${shortId()}`;
        const surroundings = prepareSurroundings({ config, role, workspace, dataDir });
        const agent: Agent = await Agent.start({
          config,
          role,
          agentId,
          concurrency: 1,
          surroundings,
          logger: logger.child({ agentId }),
        });
        running.push(agent);
        sandboxes.add(surroundings.sandbox);
        agents.push({
          agentId,
          role,
          sandbox: describeOf(surroundings.sandbox.status.kind, config, role),
        });
      }
    }
    return {
      config,
      broker,
      hub,
      root,
      workspace,
      dataDir,
      logFile: options.logFile,
      agents,
      ...(tmux ? { tmux } : {}),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * The demo's own folder in the temp directory, with an empty config file: what a
 * sheri.config.json in the folder it is run from says plays no part.
 */
export function makeDemoRoot(): { root: string; configFile: string; dataDir: string } {
  const root = mkdtempSync(join(tmpdir(), 'sheri-demo-'));
  const configFile = join(root, 'sheri.config.json');
  writeFileSync(configFile, '{}\n');
  return { root, configFile, dataDir: join(root, 'data') };
}

export function removeDemoRoot(root: string): void {
  rmSync(root, { recursive: true, force: true });
}

function describeOf(kind: 'bwrap' | 'none', config: Config, role: string): string {
  if (kind === 'none') return 'no sandbox';
  const policy = config.shellPolicies[role];
  return `bwrap${policy?.network ? ', network' : ''}${policy?.readOnly ? ', read-only' : ''}`;
}

/** One tmux pane per agent, tiled in a detached session, each a `sheri agent` of this swarm. */
async function startAgentPanes(
  tmux: Tmux,
  config: Config,
  roles: readonly string[],
  paths: { workspace: string; dataDir: string; configFile: string; logFile: string },
): Promise<{ tmux: Tmux; session: string }> {
  const session = `sheri-demo-${shortId()}`;
  const sheri = sheriArgv();
  const settings = {
    broker: config.broker,
    swarm: config.swarm,
    configFile: paths.configFile,
    workspace: paths.workspace,
    dataDir: paths.dataDir,
    logFile: paths.logFile,
    logFormat: 'pretty',
  };
  const [first, ...rest] = roles.map((role) => ({ role, agentId: `${role}-${shortId()}` }));
  const size = { width: 200, height: 50 };
  const { windowId, paneId } = await tmux.newSession(session, size, {
    name: 'agents',
    cwd: paths.workspace,
    command: agentArgv(sheri, settings, first!),
  });
  await prepareWindow(tmux, windowId, true);
  await markPane(tmux, paneId, { kind: 'agent', role: first!.role, agent: first!.agentId });
  for (const agent of rest) {
    const pane = await tmux.splitWindow(windowId, {
      cwd: paths.workspace,
      command: agentArgv(sheri, settings, agent),
    });
    await markPane(tmux, pane, { kind: 'agent', role: agent.role, agent: agent.agentId });
    await tmux.selectLayout(windowId, 'tiled');
  }
  return { tmux, session };
}

/** Until an agent of each role has joined the hub (agents in panes start on their own). */
async function joined(hub: Hub, roles: readonly string[]): Promise<DemoSwarm['agents']> {
  const deadline = Date.now() + JOIN_WAIT_MS;
  for (;;) {
    const online = hub.registry.all().filter((agent) => agent.state === 'online');
    const missing = roles.filter((role) => !online.some((agent) => agent.role === role));
    if (missing.length === 0) {
      return online.map((agent) => ({
        agentId: agent.agentId,
        role: agent.role,
        // What each agent said of its sandbox when it registered, as the in-process agents' line.
        sandbox:
          agent.sandbox?.kind === 'bwrap'
            ? `bwrap${agent.sandbox.network ? ', network' : ''}${agent.sandbox.read_only ? ', read-only' : ''}`
            : 'no sandbox',
      }));
    }
    if (Date.now() > deadline) {
      throw new SheriError(
        `agents of ${missing.join(', ')} did not join within ${JOIN_WAIT_MS / 1000} s (see their tmux panes)`,
        EXIT.unavailable,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
