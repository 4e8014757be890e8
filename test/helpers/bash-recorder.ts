import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { SimpleCommand } from '../../src/tools/shell/command-parser.js';

/**
 * Runs command lines through the real `bash --noprofile --norc -c` inside bubblewrap and records
 * the argv of every simple command bash executes, builtins included: the sandbox holds only bash
 * and its libraries, PATH points nowhere, and BASH_ENV loads a prelude that disables every
 * builtin and hands each command bash cannot find to a recorder, with its final argv. Each line
 * runs twice, the recorder exiting 0 and then 1, so both sides of `&&` / `||` / `if` run.
 */

/** What the workspace holds when a batch starts, so that globs expand to something. */
const SEED_FILES = ['a', 'ab', 'x1', 'b]', '-p', '.hidden', 'src/a.ts', 'src/b.ts'];
/** Records per run beyond which the recorder kills the run (loops). */
const MAX_RECORDS = 32;
/** A sandbox run is killed after this, plus PER_LINE_MS per line. */
const RUN_TIMEOUT_MS = 30_000;
const PER_LINE_MS = 500;

const PRELUDE = `command_not_found_handle() { /.h/rec "$@"; }
for __b in $(compgen -b); do
  case $__b in enable) ;; *) enable -n "$__b" ;; esac
done
enable -n enable
`;

// bash -p ignores BASH_ENV, so the recorder runs with its builtins.
const RECORDER = `#!/.h/bash -p
shopt -s nullglob
records=("$REC_PREFIX"*)
if (( \${#records[@]} >= ${MAX_RECORDS} )); then kill -9 -1; exit 99; fi
printf '%s\\0' "$@" > "$REC_PREFIX$$"
exit "$REC_STATUS"
`;

// PID 1 of the sandbox: runs each case twice; lets what the case left in the background finish
// (up to 200 ms), so its records are whole, then kills the rest.
const DRIVER = `exec {sleeper}<> <(:)
settle() {
  local t p state
  for ((t = 0; t < 40; t++)); do
    local busy=0
    for p in /proc/[0-9]*; do
      [[ \${p#/proc/} == 1 ]] && continue
      read -r _ _ state _ < "$p/stat" 2>/dev/null || continue
      [[ $state == Z ]] || busy=1
    done
    ((busy)) || return 0
    read -t 0.005 -u "$sleeper"
  done
}
shopt -s nullglob dotglob
n=$1
for ((i = 0; i < n; i++)); do
  IFS= read -r -d '' cmd < "/cases/$i"
  for s in 0 1; do
    before=("$PWD"/* "$PWD"/*/* /tmp/*)
    REC_PREFIX="/log/$i/$s-" REC_STATUS=$s BASH_ENV=/.h/prelude.sh PATH=/nonexistent HOME=/home/agent \\
      /.h/bash --noprofile --norc -c "$cmd" </dev/null >/dev/null 2>>"/log/$i/$s.err"
    settle
    kill -9 -1 2>/dev/null
    wait
    for f in "$PWD"/* "$PWD"/*/* /tmp/*; do
      for b in "\${before[@]}"; do [[ $f == "$b" ]] && continue 2; done
      printf '%s\\0' "$f" >> "/log/$i/files"
    done
  done
done
`;

/** What bash ran for one command line: argv lists, both runs together. */
export type Recorded = string[][];

export interface Observed {
  /** The argv of every simple command bash executed. */
  argvs: Recorded;
  /** Files that appeared in the workspace or /tmp, absolute: what redirects created. */
  files: string[];
}

export class BashRecorder {
  private constructor(private readonly dir: string) {}

  static create(): BashRecorder {
    const dir = mkdtempSync(join(tmpdir(), 'sheri-bash-recorder-'));
    writeFileSync(join(dir, 'prelude.sh'), PRELUDE);
    writeFileSync(join(dir, 'rec'), RECORDER);
    chmodSync(join(dir, 'rec'), 0o755);
    writeFileSync(join(dir, 'driver.sh'), DRIVER);
    return new BashRecorder(dir);
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Runs each line (none holding a NUL) in `workspace`, a writable folder that holds a few files
   * for globs to find (SEED_FILES), made afresh for each call.
   */
  async run(lines: readonly string[], workspace: string): Promise<Observed[]> {
    const cases = join(this.dir, 'cases');
    const log = join(this.dir, 'log');
    const ws = join(this.dir, 'ws');
    for (const path of [cases, log, ws]) {
      rmSync(path, { recursive: true, force: true });
      mkdirSync(path);
    }
    for (const file of SEED_FILES) {
      mkdirSync(join(ws, file, '..'), { recursive: true });
      writeFileSync(join(ws, file), '');
    }
    lines.forEach((line, i) => {
      writeFileSync(join(cases, String(i)), line);
      mkdirSync(join(log, String(i)));
    });
    await runSandbox(this.dir, workspace, lines.length);
    return lines.map((_, i) => {
      const records: Recorded = [];
      for (const name of readdirSync(join(log, String(i)))) {
        if (!/^[01]-\d+$/.test(name)) continue;
        const file = join(log, String(i), name);
        const argv = readFileSync(file).toString('utf8').split('\0').slice(0, -1);
        // Empty: a recorder killed before it wrote (a loop cut at MAX_RECORDS, or a background
        // command still running 200 ms after its line ended). Every command has a name.
        if (argv.length > 0) records.push(argv);
      }
      const filesLog = join(log, String(i), 'files');
      const files = existsSync(filesLog)
        ? readFileSync(filesLog).toString('utf8').split('\0').slice(0, -1)
        : [];
      return { argvs: unique(records), files: [...new Set(files)] };
    });
  }
}

/** The bash binary and the shared libraries it loads, as `ldd` names them. */
function bashFiles(): { bash: string; libraries: string[] } {
  const bash = realpathSync(execFileSync('sh', ['-c', 'command -v bash']).toString().trim());
  const libraries = [
    ...execFileSync('ldd', [bash])
      .toString()
      .matchAll(/(\/\S+) \(0x/g),
  ].map((match) => match[1] ?? '');
  return { bash, libraries };
}

/** Each argv once: both runs of a line mostly record the same commands. */
function unique(list: Recorded): Recorded {
  const seen = new Set<string>();
  return list.filter((argv) => {
    const key = argv.join('\0');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function runSandbox(dir: string, workspace: string, count: number): Promise<void> {
  const { bash, libraries } = bashFiles();
  // prettier-ignore
  const args = [
    '--unshare-all',
    '--die-with-parent',
    '--as-pid-1',
    '--tmpfs', '/',
    '--ro-bind', bash, '/.h/bash',
    ...libraries.flatMap((path) => ['--ro-bind', path, path]),
    '--ro-bind', join(dir, 'prelude.sh'), '/.h/prelude.sh',
    '--ro-bind', join(dir, 'rec'), '/.h/rec',
    '--ro-bind', join(dir, 'driver.sh'), '/.h/driver.sh',
    '--ro-bind', join(dir, 'cases'), '/cases',
    '--bind', join(dir, 'log'), '/log',
    '--dev', '/dev',
    '--proc', '/proc',
    '--dir', '/tmp',
    '--bind', join(dir, 'ws'), workspace,
    '--chdir', workspace,
    '--clearenv',
    '/.h/bash', '--noprofile', '--norc', '/.h/driver.sh', String(count),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('bwrap', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS + PER_LINE_MS * count);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`bwrap exited ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

/**
 * The recorded argv lists that no parsed simple command accounts for: a word the parser marked
 * as not expanding must be equal, one it marked expanding may stand for any number of words.
 */
export function unaccounted(recorded: Recorded, parsed: readonly SimpleCommand[]): Recorded {
  return recorded.filter((argv) => !parsed.some((command) => accounts(command, argv)));
}

function accounts(command: SimpleCommand, argv: readonly string[]): boolean {
  const { argv: words, argExpands } = command;
  const memo = new Map<string, boolean>();
  const match = (w: number, a: number): boolean => {
    const key = `${w},${a}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (w === words.length) result = a === argv.length;
    else if (argExpands[w] === true) {
      result = false;
      for (let next = a; next <= argv.length && !result; next++) result = match(w + 1, next);
    } else result = argv[a] === words[w] && match(w + 1, a + 1);
    memo.set(key, result);
    return result;
  };
  return match(0, 0);
}

/**
 * The files bash created that no redirect the parser reported accounts for: a target the parser
 * marked as not expanding must name the file, one it marked expanding may name any.
 */
export function unaccountedFiles(
  files: readonly string[],
  parsed: readonly SimpleCommand[],
  workspace: string,
): string[] {
  const writes = parsed.flatMap((command) => command.redirects).filter((r) => r.op.includes('>'));
  return files.filter(
    (file) =>
      !writes.some(
        (redirect) => redirect.targetExpands || posix.resolve(workspace, redirect.target) === file,
      ),
  );
}
