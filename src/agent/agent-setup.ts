import { mkdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import { credentialPaths } from '../auth/credential-paths.js';
import { knownRoles } from '../protocol/task-types.js';
import { checkGuardMarkers, protectedPathsFor } from '../tools/protected-files.js';
import { Sandbox, type SandboxMode } from '../tools/shell/sandbox.js';
import { isInside } from '../tools/workspace-path.js';

/** What an agent's commands run in, settled before it connects (SPEC §5). */
export interface AgentSurroundings {
  /** Real path of the workspace. */
  workspace: string;
  sandbox: Sandbox;
  protectedPaths: string[];
  /** The protected paths a command could create: those inside the workspace. */
  guardedPaths: string[];
  dataDir: string;
}

/** Sandboxes already probed by this process, by mode and protected paths (`sheri up` shares). */
const sandboxes = new Map<string, Sandbox>();

/**
 * Check the workspace, the data directory and the guard's markers, and set up the sandbox of a
 * role; every problem is a SheriError the user can act on, raised before anything connects.
 */
export function prepareSurroundings(options: {
  config: Config;
  role: string;
  workspace: string;
  /** Default: the config's (--data-dir, SHERI_DATA_DIR, ./.sheri). */
  dataDir?: string;
  cwd?: string;
}): AgentSurroundings {
  const { config, role } = options;
  const workspace = realWorkspace(options.workspace);
  const chosen = options.dataDir ?? config.dataDir;
  try {
    mkdirSync(chosen, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new SheriError(
      `cannot create the data directory ${chosen}: ${(error as Error).message}; choose another with --data-dir`,
      EXIT.dataDir,
    );
  }
  const dataDir = realpathSync(chosen);
  if (isInside(dataDir, workspace)) {
    // The data directory is hidden from every command; a workspace inside it would be too.
    throw new SheriError(
      `the workspace ${workspace} lies in the data directory ${dataDir}, which the sandbox hides from tasks; give the agent a workspace of its own (--workspace) or another --data-dir`,
      EXIT.usage,
    );
  }
  const tampered = checkGuardMarkers(dataDir);
  if (tampered) throw new SheriError(`refusing to start: ${tampered}`, EXIT.config);
  const protectedPaths = protectedPathsFor({
    cwd: options.cwd ?? process.cwd(),
    workspace,
    configFile: config.configFile,
    dataDir,
    // The credential store lives in the data directory; a credential file may be anywhere.
    extra: [...credentialPaths(config), ...settingsFiles(config)],
  });
  const mode: SandboxMode = config.sandbox.roles[role] ?? config.sandbox.mode;
  const key = `${mode}\n${protectedPaths.join('\n')}`;
  let sandbox = sandboxes.get(key);
  if (!sandbox) {
    try {
      sandbox = Sandbox.create({
        mode,
        limits: config.sandbox.limits,
        protectedPaths,
        env: config.environment,
      });
    } catch (error) {
      throw new SheriError(
        `refusing to start the ${role} agent without its sandbox: ${(error as Error).message}`,
        EXIT.config,
      );
    }
    sandboxes.set(key, sandbox);
  }
  checkBaseUrlSource(config, role, workspace, sandbox);
  // Watched after each command: those in the workspace, but none inside the data directory —
  // hidden from commands as a whole, its files are sheri's to rewrite (the credential store is
  // replaced by a new file each time it changes), and the guard took that for a task's doing.
  const guardedPaths = protectedPaths.filter(
    (path) => isInside(workspace, path) && (path === dataDir || !isInside(dataDir, path)),
  );
  return { workspace, sandbox, protectedPaths, guardedPaths, dataDir };
}

/**
 * Files the config points at that the next start reads and trusts: each role's profile (it
 * becomes the system prompt of that role's model) and each scheduled flow (the hub submits it as
 * its own). A task must not write them, wherever the operator keeps them (a `profiles/` or
 * `flows/` folder of the repository the agents work in): they are hidden from its commands, as
 * the config file is, and one it creates is moved aside. Files, not their folders: a folder may
 * be the workspace itself.
 */
function settingsFiles(config: Config): string[] {
  const { profilesDir } = config;
  const profiles = profilesDir
    ? knownRoles(config.taskTypes).map((role) => join(profilesDir, `${role}.md`))
    : [];
  const flows = Object.values(config.schedules).flatMap((entry) =>
    entry.flow ? [entry.flow] : [],
  );
  return [...profiles, ...flows];
}

function realWorkspace(path: string): string {
  let real: string;
  try {
    real = realpathSync(path);
    if (!statSync(real).isDirectory()) throw new Error('not a folder');
  } catch (error) {
    throw new SheriError(
      `workspace ${path} is not a usable folder: ${(error as Error).message}`,
      EXIT.usage,
    );
  }
  if (real === '/') {
    throw new SheriError(
      'the workspace may not be / : commands could change the whole system; choose a project folder with --workspace',
      EXIT.usage,
    );
  }
  return real;
}

/**
 * `llm.baseUrl` receives the API key with every request, so it may not come from a config file a
 * task could write: one inside the workspace of an agent without a sandbox.
 */
function checkBaseUrlSource(
  config: Config,
  role: string,
  workspace: string,
  sandbox: Sandbox,
): void {
  const file = config.llm.file;
  const fromFile = file.roles?.[role]?.baseUrl ?? file.baseUrl;
  if (!fromFile || config.llm.flags.baseUrl !== undefined || !config.configFile) return;
  if (sandbox.mode !== 'none' || !isInside(workspace, config.configFile)) return;
  throw new SheriError(
    `llm.baseUrl in ${config.configFile} is refused: the file lies in the workspace of an agent that runs commands without a sandbox, so a task could rewrite it and receive the API key. Pass --llm-base-url or SHERI_LLM_BASE_URL, move the file out of the workspace, or install bubblewrap`,
    EXIT.config,
  );
}
