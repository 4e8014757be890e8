import { existsSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXIT, SheriError } from '../errors.js';

/**
 * The argv each pane of a tmux swarm runs. Panes start the very `sheri` that launches them — this
 * Node binary and this package's entry file — so the launcher works from any directory, from a
 * checkout or a global install, without `sheri` on the tmux server's PATH.
 */

/** What every pane's sheri is told, so it joins the launcher's swarm whatever tmux's environment. */
export interface PaneSettings {
  broker: string;
  swarm: string;
  /** Absolute paths: panes may start in a server whose working directory differs. */
  configFile?: string;
  workspace?: string;
  logLevel?: string;
  logFormat?: string;
  logFile?: string;
  /** Where the credential store is (PROTOCOL §15.2), or the credential file to use. */
  dataDir?: string;
  credentials?: string;
}

/** `[node, …/dist/bin/sheri.js]`; `entry` is for callers that know better (tests). */
export function sheriArgv(entry = findSheriEntry()): string[] {
  return [process.execPath, entry];
}

/** This package's bin entry, found from this module's own place in `dist/`. */
export function findSheriEntry(): string {
  const built = fileURLToPath(new URL('../../bin/sheri.js', import.meta.url));
  if (existsSync(built)) return built;
  // Run from sources (a dev tool loading .ts): the script that is running is the entry.
  const running = process.argv[1];
  if (running && existsSync(running)) return realpathSync(running);
  throw new SheriError(
    `cannot find the sheri entry file (looked for ${built}); run npm run build`,
    EXIT.unavailable,
  );
}

function common(settings: PaneSettings, withBroker = true): string[] {
  return [
    ...(withBroker ? ['--broker', settings.broker] : []),
    '--swarm',
    settings.swarm,
    ...(settings.configFile ? ['--config', settings.configFile] : []),
    ...(settings.dataDir ? ['--data-dir', settings.dataDir] : []),
    ...(settings.credentials ? ['--credentials', settings.credentials] : []),
    ...(settings.logLevel ? ['--log-level', settings.logLevel] : []),
    ...(settings.logFormat ? ['--log-format', settings.logFormat] : []),
    ...(settings.logFile ? ['--log-file', settings.logFile] : []),
  ];
}

/**
 * Node flags of an agent pane. An idle agent's young generation grows to two 8 MB semi-spaces
 * while it loads, and keeps them: 2 MB ones cost ~5 MB less RSS per agent, at the price of more
 * frequent scavenges (measured in issue 10: no change in its time or CPU to registered).
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

export function agentArgv(
  sheri: readonly string[],
  settings: PaneSettings,
  agent: { role: string; agentId: string },
): string[] {
  const [node = process.execPath, ...entry] = sheri;
  return [
    node,
    ...AGENT_NODE_FLAGS,
    ...entry,
    'agent',
    '--role',
    agent.role,
    '--agent-id',
    agent.agentId,
    ...(settings.workspace ? ['--workspace', settings.workspace] : []),
    ...common(settings),
  ];
}

/** `sheri up` on the broker URL's own port and interface, so the agents find it there. */
export function upArgv(
  sheri: readonly string[],
  settings: PaneSettings,
  listen: { host: string; port: number },
): string[] {
  // `up` runs as itself from the store: a credential file is another machine's (§15.2).
  const own = { ...settings, credentials: undefined };
  // `up` is the broker: it is told where to listen, and refuses a --broker.
  return [
    ...sheri,
    'up',
    '--host',
    listen.host,
    '--port',
    String(listen.port),
    ...common(own, false),
  ];
}

export function monitorArgv(sheri: readonly string[], settings: PaneSettings): string[] {
  const { broker, swarm, configFile, dataDir } = settings;
  return [
    ...sheri,
    'monitor',
    ...common({
      broker,
      swarm,
      ...(configFile ? { configFile } : {}),
      ...(dataDir ? { dataDir } : {}),
    }),
  ];
}

/**
 * Where `sheri up` should listen for this broker URL, or undefined when the URL is not on this
 * machine (the launcher cannot start a broker elsewhere).
 */
export function localListenAddress(url: string): { host: string; port: number } | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'mqtt:' && parsed.protocol !== 'tcp:') return undefined;
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (!['localhost', '127.0.0.1', '::1'].includes(host)) return undefined;
  return { host: host === 'localhost' ? '127.0.0.1' : host, port: Number(parsed.port || 1883) };
}
