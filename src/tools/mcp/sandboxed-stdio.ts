import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { unwatchGroup, watchGroup } from '../shell/reaper.js';
import type { PreparedCommand } from '../shell/sandbox.js';

/** stderr kept for the error message of a server that dies. */
const STDERR_TAIL = 4_096;
const CLOSE_GRACE_MS = 2_000;

/**
 * The stdio transport of an MCP server that runs like a command (SPEC §5): the program
 * `Sandbox.prepare` made of its command line (bubblewrap, the scrubbed environment, the cgroup),
 * in its own process group, known to the reaper, so that nothing it starts outlives the task —
 * or the agent, killed or not. The SDK's StdioClientTransport spawns the bare command with the
 * agent's HOME and PATH and kills only its first process; this one kills the group.
 */
export class SandboxedStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private child: ChildProcess | undefined;
  private readonly buffer = new ReadBuffer();
  private stderr = '';
  private exited: Promise<void> | undefined;

  constructor(
    private readonly prepared: PreparedCommand,
    private readonly cwd: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The last of what the server wrote on stderr, for an error message. */
  get stderrTail(): string {
    return this.stderr.trim();
  }

  async start(): Promise<void> {
    const child = spawn(this.prepared.file, this.prepared.args, {
      cwd: this.cwd,
      env: this.prepared.env,
      detached: true, // its own process group, killed as one
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = once(child, 'close').then(() => {
      if (child.pid !== undefined) unwatchGroup(child.pid);
      void this.prepared.cgroup?.destroy();
      this.onclose?.();
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      this.buffer.append(chunk);
      for (;;) {
        let message: JSONRPCMessage | null;
        try {
          message = this.buffer.readMessage();
        } catch (error) {
          this.onerror?.(error as Error);
          continue;
        }
        if (message === null) break;
        this.onmessage?.(message);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_TAIL);
    });
    child.stdin!.on('error', (error) => this.onerror?.(error));
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => {
        if (child.pid !== undefined) watchGroup(child.pid);
        resolve();
      });
      child.once('error', reject);
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.child?.stdin;
    if (!stdin?.writable) throw new Error('the MCP server is not running');
    if (!stdin.write(serializeMessage(message))) await once(stdin, 'drain');
  }

  /** End stdin (the protocol's goodbye), then SIGTERM, then SIGKILL the whole group. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child || !this.exited) return;
    child.stdin?.end();
    const gone = (ms: number): Promise<boolean> =>
      Promise.race([
        this.exited!.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(resolve, ms, false).unref()),
      ]);
    if (child.exitCode === null && child.signalCode === null && !(await gone(CLOSE_GRACE_MS))) {
      signalGroup(child.pid, 'SIGTERM');
      if (!(await gone(CLOSE_GRACE_MS))) signalGroup(child.pid, 'SIGKILL');
    }
    // Whatever the server left in its group goes too.
    signalGroup(child.pid, 'SIGKILL');
    await this.exited;
  }
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
