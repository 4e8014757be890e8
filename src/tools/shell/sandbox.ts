import { spawnSync } from 'node:child_process';
import { accessSync, constants, lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { CgroupPool, detectCgroups, type CommandCgroup } from './cgroup.js';
import { buildHostView, isWithin, toolRoots, type HostView } from './host-view.js';

/**
 * The OS boundary around every command (SPEC §5): bubblewrap gives each command its own user,
 * PID, mount, IPC, UTS, cgroup and (unless the role needs it) network namespace; the system
 * read-only, the workspace read-write (read-only for read-only roles), $HOME, sheri's own files
 * and other users' files out of sight, a private /tmp, uid 65534, rlimits (prlimit) on file size,
 * CPU time, open files and core dumps, and a cgroup for memory and processes where the host
 * lets the agent create one. When the command's shell ends, its PID namespace ends with it, so
 * nothing it started outlives it; `--die-with-parent` does the same when the agent dies.
 */
export type SandboxMode = 'auto' | 'bwrap' | 'none';

export interface SandboxLimits {
  memoryMiB: number;
  processes: number;
  fileSizeMiB: number;
  cpuSeconds: number;
  tmpMiB: number;
  openFiles: number;
}

/** What an agent says about its sandbox in register and heartbeat (PROTOCOL §16). */
export interface SandboxStatus {
  kind: 'bwrap' | 'none';
  /** Why there is none, or what is missing (no cgroup: memory by rlimit, processes unbounded). */
  note?: string;
  cgroup: 'v1' | 'v2' | 'none';
}

export interface CommandSpec {
  command: string;
  cwd: string;
  /** Real path; bound read-write, or read-only for a read-only role. */
  workspace: string;
  readOnly: boolean;
  network: boolean;
  /** Further paths bound read-only at the same place (the inputs file's folder). */
  readOnlyPaths?: readonly string[];
  /** Further paths bound read-write at the same place (the step outputs file's folder). */
  readWritePaths?: readonly string[];
  env: Record<string, string>;
}

export interface PreparedCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
  sandboxed: boolean;
  cgroup?: CommandCgroup;
  /** Protected paths inside the workspace that do not exist, so no mount can cover them. */
  unmaskable: string[];
}

export const SANDBOX_UID = 65534; // nobody, inside the user namespace

interface Tools {
  bash: string;
  bwrap?: string;
  prlimit?: string;
}

/**
 * The sandbox will not start a command in the workspace as it is now (prepare). Callers turn it
 * into a command that did not start (runProcess) or a service that did not (runService).
 */
export class SandboxRefusal extends Error {
  override name = 'SandboxRefusal';
}

export class Sandbox {
  private constructor(
    readonly mode: 'bwrap' | 'none',
    readonly status: SandboxStatus,
    private readonly tools: Tools,
    readonly limits: SandboxLimits,
    private readonly protectedPaths: readonly string[],
    private readonly home: string | undefined,
    private readonly view: HostView | undefined,
    private readonly cgroups: CgroupPool | undefined,
  ) {}

  /** Remove the cgroups kept for reuse. */
  async close(): Promise<void> {
    await this.cgroups?.close();
  }

  /**
   * `auto` uses bubblewrap where it works and says plainly when it does not; `bwrap` refuses
   * (throws) where it does not. The probe runs a real sandboxed `true`.
   */
  static create(options: {
    mode: SandboxMode;
    limits: SandboxLimits;
    protectedPaths: readonly string[];
    env: Readonly<Record<string, string | undefined>>;
  }): Sandbox {
    const path = options.env.PATH;
    const home = options.env.HOME || undefined;
    const bash = findProgram('bash', path);
    if (!bash) throw new Error('bash was not found on PATH: sheri runs every command with bash');
    const none = (note: string): Sandbox =>
      new Sandbox(
        'none',
        { kind: 'none', note, cgroup: 'none' },
        { bash },
        options.limits,
        options.protectedPaths,
        home,
        undefined,
        undefined,
      );
    if (options.mode === 'none') return none('sandbox "none" configured');
    const bwrap = findProgram('bwrap', path);
    const prlimit = findProgram('prlimit', path);
    const missing = !bwrap ? 'bubblewrap (bwrap)' : !prlimit ? 'prlimit (util-linux)' : undefined;
    if (missing) {
      const why = `${missing} is not installed`;
      if (options.mode === 'bwrap')
        throw new Error(
          `${why}; install it (Debian: apt-get install bubblewrap) or run with --sandbox none`,
        );
      return none(why);
    }
    const cgroups = detectCgroups();
    const view = buildHostView(toolRoots(path, home));
    const sandbox = new Sandbox(
      'bwrap',
      {
        kind: 'bwrap',
        cgroup: 'unusable' in cgroups ? 'none' : cgroups.version === 1 ? 'v1' : 'v2',
        ...('unusable' in cgroups
          ? {
              note: `no cgroup (${cgroups.unusable}): memory is limited per process by RLIMIT_AS, the number of processes only by RLIMIT_NPROC, which does not bind a root agent`,
            }
          : {}),
      },
      { bash, bwrap, prlimit },
      options.limits,
      options.protectedPaths,
      home,
      view,
      'unusable' in cgroups
        ? undefined
        : new CgroupPool(cgroups, {
            memoryBytes: options.limits.memoryMiB * MIB,
            processes: options.limits.processes,
          }),
    );
    const problem = sandbox.probe();
    if (problem) {
      const why = `bubblewrap does not work here: ${problem}`;
      if (options.mode === 'bwrap') throw new Error(why);
      return none(why);
    }
    return sandbox;
  }

  /** The program and arguments that run `spec.command`, sandboxed or not. */
  prepare(spec: CommandSpec): PreparedCommand {
    const shell = [this.tools.bash, '--noprofile', '--norc', '-c', spec.command];
    if (this.mode === 'none' || !this.view) {
      return {
        file: shell[0]!,
        args: shell.slice(1),
        env: spec.env,
        sandboxed: false,
        unmaskable: [],
      };
    }
    const unmaskable: string[] = [];
    const args = [
      '--unshare-all',
      ...(spec.network ? ['--share-net'] : []),
      // No user namespace of its own inside: a smaller kernel surface to attack from within.
      '--unshare-user',
      '--disable-userns',
      '--uid',
      String(SANDBOX_UID),
      '--gid',
      String(SANDBOX_UID),
      '--die-with-parent',
      '--new-session',
      '--cap-drop',
      'ALL',
      '--hostname',
      'sheri-sandbox',
      ...this.view.systemArgs,
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--size',
      String(this.limits.tmpMiB * MIB),
      '--tmpfs',
      '/tmp',
    ];
    if (this.home && !isWithin(this.home, '/tmp') && this.home !== '/') {
      args.push('--size', String(this.limits.tmpMiB * MIB), '--tmpfs', this.home);
    }
    args.push(spec.readOnly ? '--ro-bind' : '--bind', spec.workspace, spec.workspace);
    for (const path of spec.readOnlyPaths ?? []) args.push('--ro-bind', path, path);
    for (const path of spec.readWritePaths ?? []) args.push('--bind', path, path);
    args.push(...gitMasks(spec.workspace, spec.readOnly));
    for (const path of this.protectedPaths) {
      // Outside the workspace and the system folders, a path is not in the sandbox at all.
      const visible = [spec.workspace, ...this.view.boundRoots].some((root) =>
        isWithin(root, path),
      );
      if (!visible) continue;
      const kind = kindOf(path);
      if (kind === 'dir') args.push('--tmpfs', path, '--remount-ro', path);
      else if (kind === 'file') args.push('--ro-bind', '/dev/null', path);
      else if (isWithin(spec.workspace, path)) unmaskable.push(path);
    }
    args.push('--chdir', spec.cwd, '--');
    const limits = [this.tools.prlimit!, ...rlimitArgs(this.limits, !this.cgroups), '--'];
    const env = { ...spec.env, TMPDIR: '/tmp' };
    const inner = [this.tools.bwrap!, ...args, ...limits, ...shell];
    if (!this.cgroups) {
      return { file: inner[0]!, args: inner.slice(1), env, sandboxed: true, unmaskable };
    }
    const cgroup = this.cgroups.acquire();
    // The wrapper joins the cgroup before it becomes bwrap, so every process of the command is
    // counted from the first; nothing of the command's text reaches this shell.
    const enter = cgroup.procsFiles.map((_, i) => `echo $$ > "$${i + 1}"`).join(' && ');
    const script = `${enter} && shift ${cgroup.procsFiles.length} && exec "$@"`;
    return {
      file: '/bin/sh',
      args: ['-c', script, 'sh', ...cgroup.procsFiles, ...inner],
      env,
      sandboxed: true,
      cgroup,
      unmaskable,
    };
  }

  /** Why a sandboxed `true` fails here, or undefined when it runs. */
  private probe(): string | undefined {
    const workspace = mkdtempSync(join(tmpdir(), 'sheri-probe-'));
    const prepared = this.prepare({
      command: 'true',
      cwd: workspace,
      workspace,
      readOnly: false,
      network: false,
      env: { PATH: '/usr/bin:/bin' },
    });
    try {
      const run = spawnSync(prepared.file, prepared.args, {
        env: prepared.env,
        encoding: 'utf8',
        timeout: 10_000,
      });
      if (run.error) return run.error.message;
      if (run.status !== 0) return (run.stderr || `exit ${run.status}`).trim().split('\n')[0];
      return undefined;
    } finally {
      prepared.cgroup?.destroy();
      rmSync(workspace, { recursive: true, force: true });
    }
  }
}

const MIB = 1024 * 1024;

/**
 * prlimit's arguments for the limits, each at most the agent's own hard limit: inside the
 * sandbox nothing may raise one, and a limit prlimit cannot set would stop every command.
 */
function rlimitArgs(limits: SandboxLimits, addressSpace: boolean): string[] {
  const hard = hardLimits();
  const cap = (name: string, value: number): number => Math.min(value, hard.get(name) ?? value);
  const cpuHard = cap('Max cpu time', limits.cpuSeconds + 1);
  return [
    `--fsize=${cap('Max file size', limits.fileSizeMiB * MIB)}`,
    // SIGXCPU at the soft limit (a status that names it), SIGKILL a second later.
    `--cpu=${Math.min(limits.cpuSeconds, cpuHard)}:${cpuHard}`,
    `--nofile=${cap('Max open files', limits.openFiles)}`,
    `--nproc=${cap('Max processes', limits.processes)}`,
    '--core=0',
    // Without a cgroup, address space is the only memory bound there is; it counts mappings,
    // not use, so programs that reserve much (a JIT, wasm) need a larger memoryMiB there.
    ...(addressSpace ? [`--as=${cap('Max address space', limits.memoryMiB * MIB)}`] : []),
  ];
}

let hostLimits: Map<string, number> | undefined;

/** This process's hard limits from /proc/self/limits ("unlimited" left out). */
function hardLimits(): Map<string, number> {
  if (hostLimits) return hostLimits;
  hostLimits = new Map();
  let text = '';
  try {
    text = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return hostLimits;
  }
  for (const line of text.split('\n').slice(1)) {
    const match = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (match && /^\d+$/.test(match[3]!)) hostLimits.set(match[1]!.trim(), Number(match[3]));
  }
  return hostLimits;
}

/** `name` on PATH, then in sbin (where Debian keeps some tools and a user's PATH may not look). */
function findProgram(name: string, pathVariable: string | undefined): string | undefined {
  const dirs = [
    ...(pathVariable || '/usr/local/bin:/usr/bin:/bin').split(delimiter),
    '/usr/sbin',
    '/sbin',
  ];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/**
 * Hooks and config of the workspace's repository run code on the host's next `git …`: both are
 * bound read-only, and `.git` itself is bound onto itself first, a mount point no command can
 * rename — `mv .git .g && mkdir .git` put a new `.git/config` where the host's git reads it.
 * Only a real folder `.git` is (a worktree's `.git` file names its repository elsewhere, out of
 * the sandbox's reach), and only a real file `config` and a real folder `hooks`: bwrap follows a
 * link, so a dangling one failed every later command, and one into the workspace left its target
 * writable. A link there is refused, and no command runs until it is replaced.
 */
function gitMasks(workspace: string, readOnly: boolean): string[] {
  const git = join(workspace, '.git');
  if (!lstatOf(git)?.isDirectory()) return [];
  const args = [readOnly ? '--ro-bind' : '--bind', git, git];
  for (const [name, kind] of [
    ['config', 'file'],
    ['hooks', 'dir'],
  ] as const) {
    const path = join(git, name);
    const info = lstatOf(path);
    if (!info) continue;
    if (kind === 'file' ? !info.isFile() : !info.isDirectory()) {
      throw new SandboxRefusal(
        `the workspace's .git/${name} is not a plain ${kind === 'file' ? 'file' : 'folder'} (a link, or something else): its contents cannot be kept read-only, so no command runs in this workspace until it is one`,
      );
    }
    args.push('--ro-bind', path, path);
  }
  return args;
}

function lstatOf(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function kindOf(path: string): 'dir' | 'file' | undefined {
  const info = lstatOf(path);
  return info === undefined ? undefined : info.isDirectory() ? 'dir' : 'file';
}
