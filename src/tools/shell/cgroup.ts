import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Memory and process limits for one sandboxed command, from a cgroup of its own (SPEC §5). An
 * rlimit on processes does not bind uid 0 — and a sandbox started by a root agent runs as uid 0
 * outside its user namespace — so a fork bomb is stopped only here. Both hierarchies are
 * supported: cgroup v2 (one tree, `memory.max`, `pids.max`) and v1 (one tree per controller,
 * `memory.limit_in_bytes`, `pids.max`), each under the agent's own cgroup.
 */
export interface CgroupLimits {
  memoryBytes: number;
  processes: number;
}

export interface CgroupSupport {
  version: 1 | 2;
  /** The folders under which each command gets a child: one (v2) or one per controller (v1). */
  parents: { memory: string; pids: string };
}

export interface CommandCgroup {
  /** Files a process writes its pid to, to enter the cgroup (before it execs the sandbox). */
  procsFiles: string[];
  /** What the command ran into, read after it ended. */
  usage(): { memoryLimitHit: boolean; processLimitHit: boolean };
  /** Kill what is left; the cgroup goes back to the pool (or away) once it is empty. */
  destroy(): void;
}

let sequence = 0;
const REMOVE_RETRY_MS = 10; // between tries to remove a cgroup whose members are dying

/** The cgroup hierarchy this process may create children in, or why none is usable. */
export function detectCgroups(): CgroupSupport | { unusable: string } {
  let own: string;
  let mounts: string;
  try {
    own = readFileSync('/proc/self/cgroup', 'utf8');
    mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch (error) {
    return { unusable: `cannot read /proc/self/cgroup: ${(error as Error).message}` };
  }
  const v1 = detectV1(own, mounts);
  if (!('unusable' in v1)) return v1;
  const v2 = detectV2(own, mounts);
  if (!('unusable' in v2)) return v2;
  return { unusable: `${v2.unusable}; ${v1.unusable}` };
}

/** Mount points of cgroup file systems, with their super options (`memory`, `pids`, …). */
function cgroupMounts(mountinfo: string): { point: string; type: string; options: string[] }[] {
  const found: { point: string; type: string; options: string[] }[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const [type, , superOptions = ''] = right.split(' ');
    if (type !== 'cgroup' && type !== 'cgroup2') continue;
    const point = left.split(' ')[4];
    if (point) found.push({ point, type, options: superOptions.split(',') });
  }
  return found;
}

function detectV1(own: string, mountinfo: string): CgroupSupport | { unusable: string } {
  const mounts = cgroupMounts(mountinfo).filter((mount) => mount.type === 'cgroup');
  const parents: Partial<Record<'memory' | 'pids', string>> = {};
  for (const controller of ['memory', 'pids'] as const) {
    const line = own
      .split('\n')
      .map((entry) => entry.split(':'))
      .find((parts) => parts[1]?.split(',').includes(controller));
    const mount = mounts.find((entry) => entry.options.includes(controller));
    if (!line || !mount) return { unusable: `no cgroup v1 ${controller} controller` };
    const dir = join(mount.point, line.slice(2).join(':'));
    if (!canCreateChild(dir)) return { unusable: `cannot create cgroups under ${dir}` };
    parents[controller] = dir;
  }
  return { version: 1, parents: { memory: parents.memory!, pids: parents.pids! } };
}

function detectV2(own: string, mountinfo: string): CgroupSupport | { unusable: string } {
  const mount = cgroupMounts(mountinfo).find((entry) => entry.type === 'cgroup2');
  const line = own.split('\n').find((entry) => entry.startsWith('0::'));
  if (!mount || !line) return { unusable: 'no cgroup v2 hierarchy' };
  const dir = join(mount.point, line.slice(3));
  const controllers = readText(join(dir, 'cgroup.controllers'))?.split(/\s+/) ?? [];
  if (!controllers.includes('memory') || !controllers.includes('pids')) {
    return { unusable: `cgroup v2 ${dir} does not offer the memory and pids controllers` };
  }
  const enabled = readText(join(dir, 'cgroup.subtree_control'))?.split(/\s+/) ?? [];
  if (!enabled.includes('memory') || !enabled.includes('pids')) {
    try {
      writeFileSync(join(dir, 'cgroup.subtree_control'), '+memory +pids');
    } catch (error) {
      // A cgroup that holds processes cannot enable controllers for children ("no internal
      // processes"); the operator delegates one (systemd-run -p Delegate=yes …).
      return { unusable: `cannot enable memory and pids controllers in ${dir}: ${code(error)}` };
    }
  }
  if (!canCreateChild(dir)) return { unusable: `cannot create cgroups under ${dir}` };
  return { version: 2, parents: { memory: dir, pids: dir } };
}

function canCreateChild(dir: string): boolean {
  const probe = join(dir, `sheri-probe-${process.pid}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
    return true;
  } catch {
    return false;
  }
}

/**
 * Cgroups for commands, kept for reuse: making and removing one costs more than the rest of a
 * sandbox's start. A cgroup goes back to the pool only once it is empty; its event counters
 * only grow, so each use compares them with their values when it began.
 */
export class CgroupPool {
  private readonly free: PooledCgroup[] = [];
  private readonly all = new Set<PooledCgroup>();
  private readonly returning = new Set<Promise<void>>();

  constructor(
    private readonly support: CgroupSupport,
    private readonly limits: CgroupLimits,
  ) {
    removeStale(support);
  }

  acquire(): CommandCgroup {
    const cgroup = this.free.pop() ?? this.create();
    const before = cgroup.counters();
    return {
      procsFiles: cgroup.procsFiles,
      usage: () => {
        const after = cgroup.counters();
        return {
          memoryLimitHit: after.oomKills > before.oomKills,
          processLimitHit: after.pidsMax > before.pidsMax,
        };
      },
      destroy: () => {
        for (const dir of cgroup.dirs) killMembers(dir, this.support.version);
        // Back to the pool once the kernel has let go of the last member, which may lag the
        // command's end by a few milliseconds: nobody waits for that.
        const returned = this.recycle(cgroup).finally(() => this.returning.delete(returned));
        this.returning.add(returned);
      },
    };
  }

  private async recycle(cgroup: PooledCgroup): Promise<void> {
    if (await waitEmpty(cgroup.dirs)) {
      this.free.push(cgroup);
      return;
    }
    this.all.delete(cgroup);
    await removeDirs(cgroup.dirs);
  }

  /** Remove every cgroup of the pool (they are empty between commands). */
  async close(): Promise<void> {
    await Promise.all(this.returning);
    this.free.length = 0;
    for (const cgroup of this.all) await removeDirs(cgroup.dirs);
    this.all.clear();
  }

  private create(): PooledCgroup {
    const { support, limits } = this;
    const name = `sheri-${process.pid}-${++sequence}`;
    const dirs = [...new Set([support.parents.memory, support.parents.pids])].map((parent) =>
      join(parent, name),
    );
    for (const dir of dirs) mkdirSync(dir);
    const memoryDir = join(support.parents.memory, name);
    const pidsDir = join(support.parents.pids, name);
    try {
      writeFileSync(join(pidsDir, 'pids.max'), String(limits.processes));
      if (support.version === 2) {
        writeFileSync(join(memoryDir, 'memory.max'), String(limits.memoryBytes));
        writeOptional(join(memoryDir, 'memory.swap.max'), '0');
      } else {
        writeFileSync(join(memoryDir, 'memory.limit_in_bytes'), String(limits.memoryBytes));
        // Swap counts too where the kernel accounts it, so the limit is not just moved to swap.
        writeOptional(join(memoryDir, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
      }
    } catch (error) {
      void removeDirs(dirs);
      throw error;
    }
    const cgroup: PooledCgroup = {
      dirs,
      procsFiles: dirs.map((dir) => join(dir, 'cgroup.procs')),
      counters: () => ({
        oomKills: eventCount(
          join(memoryDir, support.version === 2 ? 'memory.events' : 'memory.oom_control'),
          'oom_kill',
        ),
        pidsMax: eventCount(join(pidsDir, 'pids.events'), 'max'),
      }),
    };
    this.all.add(cgroup);
    return cgroup;
  }
}

interface PooledCgroup {
  dirs: string[];
  procsFiles: string[];
  counters(): { oomKills: number; pidsMax: number };
}

/** Cgroups a sheri process that is gone left behind (killed before it could remove them). */
function removeStale(support: CgroupSupport): void {
  for (const parent of new Set([support.parents.memory, support.parents.pids])) {
    let names: string[];
    try {
      names = readdirSync(parent);
    } catch {
      continue;
    }
    for (const name of names) {
      const pid = /^sheri-(\d+)-\d+$/.exec(name)?.[1];
      if (!pid || isAlive(Number(pid))) continue;
      try {
        rmdirSync(join(parent, name));
      } catch {
        // Not empty yet, or not ours to remove.
      }
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether every member of the cgroups is gone (reaped) within a short wait. */
async function waitEmpty(dirs: readonly string[]): Promise<boolean> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (dirs.every((dir) => (readText(join(dir, 'cgroup.procs')) ?? '').trim() === '')) return true;
    await sleep(REMOVE_RETRY_MS);
  }
  return false;
}

function killMembers(dir: string, version: 1 | 2): void {
  if (version === 2 && writeOptional(join(dir, 'cgroup.kill'), '1')) return;
  for (const pid of (readText(join(dir, 'cgroup.procs')) ?? '').split('\n')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** rmdir fails (EBUSY) while a killed member is not reaped yet; a few tries cover that. */
async function removeDirs(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    for (let attempt = 0; attempt < 100 && existsSync(dir); attempt++) {
      try {
        rmdirSync(dir);
      } catch {
        await sleep(REMOVE_RETRY_MS);
      }
    }
  }
}

/** `name N` from a flat keyed file such as memory.events; 0 when absent. */
function eventCount(file: string, name: string): number {
  const match = new RegExp(`^${name} (\\d+)$`, 'm').exec(readText(file) ?? '');
  return match ? Number(match[1]) : 0;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function writeOptional(file: string, value: string): boolean {
  try {
    writeFileSync(file, value);
    return true;
  } catch {
    return false;
  }
}

function code(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}
