import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { SheriError, EXIT } from '../errors.js';
import { formatIssues } from '../protocol/codec.js';
import { checkSwarmName } from '../protocol/topics.js';
import type { TaskTypeTable } from '../protocol/task-types.js';
import { DEFAULTS } from './defaults.js';
import { buildShellPolicies, PolicyConfigError } from '../tools/shell/default-policies.js';
import type { ShellPolicy } from '../tools/shell/policy.js';
import type { SandboxLimits, SandboxMode } from '../tools/shell/sandbox.js';
import { ConfigFile } from './schema.js';
import { buildLlmConfig, type LlmConfig, type LlmFlags } from '../llm/settings.js';
import type { McpFileSettings } from '../tools/mcp/mcp-config.js';
import type { BudgetFileSettings } from '../tasks/budget.js';
import type { ScheduleFileSettings } from '../flows/schedule-config.js';

export interface Config {
  readonly broker: string;
  readonly swarm: string;
  readonly heartbeatMs: number;
  readonly leaseMs: number;
  readonly leaseCheckMs: number;
  readonly willGraceMs: number;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly taskTimeoutMs: number;
  readonly maxTaskTimeoutMs: number;
  readonly inactivityMs: number;
  readonly approvalTimeoutMs: number;
  readonly maxPayloadBytes: number;
  readonly outputLimitChars: number;
  readonly queryTimeoutMs: number;
  readonly waitNoticeMs: number;
  readonly taskTypes: TaskTypeTable;
  readonly runbooks: Readonly<Record<string, readonly string[]>>;
  /** Per role, what its commands may run: the defaults as the config file's `shellPolicies` change them. */
  readonly shellPolicies: Readonly<Record<string, ShellPolicy>>;
  /** Per role, extra variables its commands may see (`shellEnv` in the config file). */
  readonly shellEnv: Readonly<Record<string, readonly string[]>>;
  /** The agent's own environment, from which commands get only an allowlist. */
  readonly environment: Readonly<Record<string, string | undefined>>;
  /** Prompt tasks: the layers of LLM settings, resolved per role (resolveLlmSettings). */
  readonly llm: LlmConfig;
  /** MCP servers and the roles that get them (`mcp` in the config file). */
  readonly mcp: McpFileSettings;
  /** The swarm-wide LLM budget the hub enforces (`budget` in the config file). */
  readonly budget: BudgetFileSettings;
  /** Where role profiles that replace the shipped ones live, if the config file names a folder. */
  readonly profilesDir: string | undefined;
  /** The config file read (absolute), if any: one of sheri's own files, kept from tasks. */
  readonly configFile: string | undefined;
  /** The OS sandbox of commands: the mode for every role, exceptions per role, limits. */
  readonly sandbox: {
    readonly mode: SandboxMode;
    readonly roles: Readonly<Record<string, SandboxMode>>;
    readonly limits: SandboxLimits;
  };
  /** Where broker state, the ledger and the credential store live (absolute). */
  readonly dataDir: string;
  /** A credential file of another machine (`sheri credentials add`); else the store in dataDir. */
  readonly credentialsFile: string | undefined;
  /** MQTT login that overrides the credential's (--username/--password). */
  readonly mqttLogin: { readonly username: string; readonly password: string } | undefined;
  /** Files for mqtts:// (paths): the CA to trust, and a client certificate and key. */
  readonly tls: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  readonly maxJsonDepth: number;
  readonly security: SecurityConfig;
  readonly retention: { readonly finishedMaxAgeMs: number; readonly pruneEveryMs: number };
  /** The hub's ledger on PostgreSQL (postgres://…); undefined: SQLite in dataDir. */
  readonly ledgerUrl: string | undefined;
  /** A need never submitted kills its task after this long; 0: never (PROTOCOL §17.8). */
  readonly missingNeedTimeoutMs: number;
  /** Recurring tasks and flows the hub runs; `flow` paths made absolute (PROTOCOL §17.7). */
  readonly schedules: ScheduleFileSettings;
}

export interface SecurityConfig {
  readonly signing: boolean;
  readonly maxClockSkewMs: number;
  readonly replayCacheSize: number;
  readonly rateLimit: {
    readonly tasksPerSecond: number;
    readonly taskBurst: number;
    readonly bytesPerSecond: number;
    readonly byteBurst: number;
  };
  readonly maxQueuedPerSubmitter: number;
  readonly maxSubtasksPerTask: number;
}

/** Kinds' own envelope roles (PROTOCOL §15.1): no agent role may take one. */
const RESERVED_ROLES = ['hub', 'operator', 'observer'];

export interface CommonFlags extends LlmFlags {
  broker?: string;
  swarm?: string;
  config?: string;
  /** `auto`, `bwrap` (or its alias `required`), `none`; beats env SHERI_SANDBOX and the file. */
  sandbox?: string;
  dataDir?: string;
  credentials?: string;
  username?: string;
  password?: string;
  ca?: string;
  cert?: string;
  key?: string;
  /** false with --no-signing. */
  signing?: boolean;
  /** `sheri hub --ledger postgres://…`; beats env SHERI_LEDGER and the file's ledger.url. */
  ledger?: string;
}

const DEFAULT_CONFIG_FILE = 'sheri.config.json';

/** Flags beat env beat config file beat defaults. The only place that reads process.env. */
export function loadConfig(
  flags: CommonFlags,
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Config> = {},
): Config {
  // An empty variable counts as unset, as shells make it easy to export one by accident.
  const fromEnv = (name: string): string | undefined => env[name] || undefined;
  const { file, path: filePath } = readConfigFile(flags.config ?? fromEnv('SHERI_CONFIG'));
  const swarm =
    flags.swarm ??
    fromEnv('SHERI_SWARM') ??
    fromEnv('OPENCTO_SWARM') ??
    file.swarm ??
    DEFAULTS.swarm;
  const swarmProblem = checkSwarmName(swarm);
  if (swarmProblem) throw new SheriError(swarmProblem, EXIT.usage);
  const broker =
    flags.broker ??
    fromEnv('SHERI_BROKER') ??
    fromEnv('MQTT_BROKER') ??
    file.broker ??
    DEFAULTS.broker;
  checkBrokerUrl(broker);
  for (const [type, roles] of Object.entries(file.taskTypes ?? {})) {
    const reserved = roles.find((role) => RESERVED_ROLES.includes(role));
    if (reserved) {
      throw new SheriError(
        `taskTypes.${type}: "${reserved}" is not an agent role (it names a kind of client: ${RESERVED_ROLES.join(', ')})`,
        EXIT.config,
      );
    }
  }
  const config: Config = {
    broker,
    swarm,
    heartbeatMs: file.heartbeatMs ?? DEFAULTS.heartbeatMs,
    leaseMs: file.leaseMs ?? DEFAULTS.leaseMs,
    leaseCheckMs: DEFAULTS.leaseCheckMs,
    willGraceMs: DEFAULTS.willGraceMs,
    maxAttempts: file.maxAttempts ?? DEFAULTS.maxAttempts,
    retryBaseMs: file.retryBaseMs ?? DEFAULTS.retryBaseMs,
    retryMaxMs: file.retryMaxMs ?? DEFAULTS.retryMaxMs,
    taskTimeoutMs: file.taskTimeoutMs ?? DEFAULTS.taskTimeoutMs,
    maxTaskTimeoutMs: file.maxTaskTimeoutMs ?? DEFAULTS.maxTaskTimeoutMs,
    inactivityMs: file.inactivityMs ?? DEFAULTS.inactivityMs,
    approvalTimeoutMs: file.approvalTimeoutMs ?? DEFAULTS.approvalTimeoutMs,
    maxPayloadBytes: file.maxPayloadBytes ?? DEFAULTS.maxPayloadBytes,
    outputLimitChars: DEFAULTS.outputLimitChars,
    queryTimeoutMs: file.queryTimeoutMs ?? DEFAULTS.queryTimeoutMs,
    waitNoticeMs: file.waitNoticeMs ?? DEFAULTS.waitNoticeMs,
    taskTypes: copyTable({ ...DEFAULTS.taskTypes, ...file.taskTypes }),
    runbooks: copyTable({ ...DEFAULTS.runbooks, ...file.runbooks }),
    shellEnv: copyTable(file.shellEnv ?? {}),
    shellPolicies: mergePolicies(file.shellPolicies ?? {}, filePath),
    environment: { ...env },
    llm: buildLlmConfig(file.llm, flags, fromEnv),
    mcp: file.mcp ?? {},
    budget: file.budget ?? {},
    profilesDir: file.profilesDir
      ? resolve(filePath ? dirname(filePath) : '.', file.profilesDir)
      : undefined,
    configFile: filePath,
    sandbox: {
      mode:
        parseSandboxMode(flags.sandbox ?? fromEnv('SHERI_SANDBOX')) ??
        file.sandbox?.mode ??
        DEFAULTS.sandbox,
      // A mode given on the command line or in the environment is for every role.
      roles: (flags.sandbox ?? fromEnv('SHERI_SANDBOX')) ? {} : { ...file.sandbox?.roles },
      limits: { ...DEFAULTS.sandboxLimits, ...file.sandbox?.limits },
    },
    missingNeedTimeoutMs: file.missingNeedTimeoutMs ?? DEFAULTS.missingNeedTimeoutMs,
    schedules: Object.fromEntries(
      Object.entries(file.schedules ?? {}).map(([name, entry]) => [
        name,
        entry.flow
          ? { ...entry, flow: resolve(filePath ? dirname(filePath) : '.', entry.flow) }
          : entry,
      ]),
    ),
    ...loadSecurity(flags, fromEnv, file),
    ledgerUrl: flags.ledger ?? fromEnv('SHERI_LEDGER') ?? file.ledger?.url,
    ...overrides,
  };
  return deepFreeze(config);
}

type SecurityKeys =
  'dataDir' | 'credentialsFile' | 'mqttLogin' | 'tls' | 'maxJsonDepth' | 'security' | 'retention';

/** Credentials, TLS files, signing and limits (PROTOCOL §15): flags, then env, then file. */
function loadSecurity(
  flags: CommonFlags,
  fromEnv: (name: string) => string | undefined,
  file: ConfigFile,
): Pick<Config, SecurityKeys> {
  const username = flags.username ?? fromEnv('SHERI_USERNAME');
  const password = flags.password ?? fromEnv('SHERI_PASSWORD');
  if ((username === undefined) !== (password === undefined)) {
    throw new SheriError(
      '--username and --password (or SHERI_USERNAME and SHERI_PASSWORD) go together',
      EXIT.usage,
    );
  }
  const credentials = flags.credentials ?? fromEnv('SHERI_CREDENTIALS');
  const signingEnv = fromEnv('SHERI_SIGNING');
  if (signingEnv !== undefined && !['on', 'off', 'true', 'false', '1', '0'].includes(signingEnv)) {
    throw new SheriError(`SHERI_SIGNING must be "on" or "off", got "${signingEnv}"`, EXIT.usage);
  }
  const tls = {
    ca: flags.ca ?? fromEnv('SHERI_CA'),
    cert: flags.cert ?? fromEnv('SHERI_CERT'),
    key: flags.key ?? fromEnv('SHERI_KEY'),
  };
  const security = file.security ?? {};
  const rate = DEFAULTS.security.rateLimit;
  return {
    dataDir: resolve(flags.dataDir ?? fromEnv('SHERI_DATA_DIR') ?? DEFAULTS.dataDir),
    credentialsFile: credentials ? resolve(credentials) : undefined,
    mqttLogin: username !== undefined ? { username, password: password! } : undefined,
    tls: Object.fromEntries(
      Object.entries(tls).flatMap(([name, path]) => (path ? [[name, resolve(path)]] : [])),
    ),
    maxJsonDepth: file.maxJsonDepth ?? DEFAULTS.maxJsonDepth,
    security: {
      signing:
        flags.signing === false
          ? false
          : signingEnv !== undefined
            ? ['on', 'true', '1'].includes(signingEnv)
            : (security.signing ?? DEFAULTS.security.signing),
      maxClockSkewMs: security.maxClockSkewMs ?? DEFAULTS.security.maxClockSkewMs,
      replayCacheSize: security.replayCacheSize ?? DEFAULTS.security.replayCacheSize,
      rateLimit: { ...rate, ...security.rateLimit },
      maxQueuedPerSubmitter:
        security.maxQueuedPerSubmitter ?? DEFAULTS.security.maxQueuedPerSubmitter,
      maxSubtasksPerTask: security.maxSubtasksPerTask ?? DEFAULTS.security.maxSubtasksPerTask,
    },
    retention: { ...DEFAULTS.retention, ...file.retention },
  };
}

/**
 * Each shipped role's default policy, and each role the file names, changed as the file says
 * (src/tools/shell/default-policies.ts). A mistake names its key: `shellPolicies.testing.remove.0`.
 */
function mergePolicies(
  changes: NonNullable<ConfigFile['shellPolicies']>,
  filePath: string | undefined,
): Record<string, ShellPolicy> {
  try {
    return buildShellPolicies(changes);
  } catch (error) {
    if (!(error instanceof PolicyConfigError)) throw error;
    const key = ['shellPolicies', ...error.path].join('.');
    throw new SheriError(
      `config file ${filePath ?? ''} is invalid: ${key}: ${error.message}`,
      EXIT.config,
    );
  }
}

/** A fresh copy, so freezing a config never freezes or shares the module's default arrays. */
function copyTable(
  table: Readonly<Record<string, readonly string[]>>,
): Record<string, readonly string[]> {
  return Object.fromEntries(Object.entries(table).map(([key, list]) => [key, [...list]]));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function readConfigFile(path: string | undefined): { file: ConfigFile; path?: string } {
  const chosen = path ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  if (!chosen) return { file: {} };
  const full = resolve(chosen);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (error) {
    throw new SheriError(
      `cannot read config file ${full}: ${(error as Error).message}`,
      EXIT.config,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SheriError(
      `config file ${full} is not JSON: ${(error as Error).message}`,
      EXIT.config,
    );
  }
  const parsed = ConfigFile.safeParse(json);
  if (!parsed.success) {
    throw new SheriError(
      `config file ${full} is invalid: ${formatIssues(parsed.error)}`,
      EXIT.config,
    );
  }
  return { file: parsed.data, path: full };
}

function parseSandboxMode(value: string | undefined): SandboxMode | undefined {
  if (value === undefined) return undefined;
  if (value === 'required') return 'bwrap';
  if (value === 'auto' || value === 'bwrap' || value === 'none') return value;
  throw new SheriError(
    `--sandbox must be auto, bwrap (or required: refuse to start without it) or none, got "${value}"`,
    EXIT.usage,
  );
}

function checkBrokerUrl(url: string): void {
  if (!url.includes('://')) {
    throw new SheriError(
      `broker URL "${url}" has no scheme; did you mean mqtt://${url}?`,
      EXIT.usage,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SheriError(
      `broker URL "${url}" is not a URL; expected e.g. mqtt://localhost:1883`,
      EXIT.usage,
    );
  }
  if (!['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:'].includes(parsed.protocol)) {
    throw new SheriError(
      `broker URL "${url}" has protocol "${parsed.protocol}"; use mqtt://, mqtts://, ws:// or wss://`,
      EXIT.usage,
    );
  }
}
