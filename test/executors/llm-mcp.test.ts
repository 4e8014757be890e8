import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { callTools, say, type RecordedRequest } from '../helpers/fake-llm-server.js';
import { LlmTaskHarness } from '../helpers/llm-task.js';
import { requireTool, withoutLlmSettings } from '../helpers/tools.js';
import { FakeLlmServer } from '../helpers/fake-llm-server.js';
import { startSheri } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';
import { mkdirSync, writeFileSync } from 'node:fs';

const FIXTURES = dirname(
  fileURLToPath(new URL('../fixtures/mcp-notes-server.mjs', import.meta.url)),
);
const SERVER = join(FIXTURES, 'mcp-notes-server.mjs');
const NODE_MODULES = fileURLToPath(new URL('../../node_modules', import.meta.url));

/** Processes of the host whose command line contains `needle` (sandboxed ones included). */
function processesWith(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(needle)) found.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

interface ResultSent {
  tool_use_id: string;
  content: string;
  is_error?: boolean;
}

describe('MCP tools for prompt tasks', () => {
  let harness: LlmTaskHarness | undefined;
  let closeLast: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await harness?.close();
    await closeLast?.();
    harness = undefined;
    closeLast = undefined;
  });

  const notesConfig = (command = `node ${SERVER}`) => ({
    mcp: {
      servers: { notes: { command, paths: [FIXTURES, NODE_MODULES] } },
      roles: { general: { servers: ['notes'], deny: ['notes.delete_*'] } },
    },
    environment: { ...withoutLlmSettings(process.env), SHERI_TEST_CANARY_TOKEN: 'canary-4f1c' },
  });

  it('offers a stdio server’s tools to the model, in the sandbox; refuses the denied one; and the server and its grandchild are gone after the task', async () => {
    if (!requireTool('bwrap')) return;
    let seenDuringTask: number[] = [];
    let sleepDuringTask: number[] = [];
    harness = await LlmTaskHarness.start(
      [
        callTools([
          { name: 'mcp__notes__add_note', input: { text: 'check lease renewal' } },
          { name: 'mcp__notes__delete_notes', input: {} },
        ]),
        (request: RecordedRequest) => {
          void request;
          seenDuringTask = processesWith(SERVER);
          sleepDuringTask = processesWith('sleep 301');
          return say('Noted.');
        },
      ],
      { role: 'general', config: notesConfig() },
    );
    await harness.submit({ task_id: 'with-mcp', type: 'code.generate' });
    const { complete } = await harness.outcomeOf('with-mcp');
    expect(complete).toMatchObject({ result: { text: 'Noted.', tool_calls: 2 } });

    const [first, second] = harness.fake.requests;
    const names = first!.body.tools.map((tool: { name: string }) => tool.name);
    expect(names).toContain('mcp__notes__add_note');
    expect(names).not.toContain('mcp__notes__delete_notes');
    expect(
      first!.body.tools.find((t: { name: string }) => t.name === 'mcp__notes__add_note'),
    ).toMatchObject({
      description: '[MCP server notes] Add a line to the notes of the workspace.',
      input_schema: { type: 'object', required: ['text'] },
    });
    const results = second!.body.messages[2].content as ResultSent[];
    // It ran in the sandbox (uid 65534), without the agent's secret-looking variables.
    expect(results[0]).toMatchObject({
      content: 'noted "check lease renewal" (uid 65534, canary absent)',
    });
    expect(results[0]!.is_error).toBeUndefined();
    expect(results[1]).toMatchObject({
      is_error: true,
      content:
        'Error: MCP tool notes.delete_notes is denied for role general by mcp.roles.general.deny "notes.delete_*"',
    });
    // The server really worked in the workspace, and the denied call never reached it.
    expect(readFileSync(join(harness.repo, 'notes.md'), 'utf8')).toBe('- check lease renewal\n');
    expect(readFileSync(join(harness.repo, 'mcp-calls.log'), 'utf8')).toBe(
      'add_note check lease renewal\n',
    );
    // Running while the task ran; gone, with the grandchild it left in its own session, after.
    expect(seenDuringTask.length).toBeGreaterThan(0);
    expect(sleepDuringTask.length).toBeGreaterThan(0);
    expect(processesWith(SERVER)).toEqual([]);
    expect(processesWith('sleep 301')).toEqual([]);
    expect(harness.progressOf('with-mcp')).toEqual(
      expect.arrayContaining([
        'MCP: 1 tool(s) from notes, 1 denied',
        'tool mcp__notes__add_note {"text":"check lease renewal"}',
        expect.stringMatching(
          /^tool mcp__notes__delete_notes error: Error: MCP tool notes.delete_notes is denied/,
        ),
      ]),
    );
  });

  it('fails the task, saying what the server wrote, when an MCP server does not start', async () => {
    harness = await LlmTaskHarness.start([say('never asked')], {
      role: 'general',
      config: notesConfig(`node -e "process.stderr.write('notes: no database'); process.exit(3)"`),
    });
    await harness.submit({ task_id: 'no-server', type: 'code.generate', max_attempts: 1 });
    const { failed } = await harness.outcomeOf('no-server');
    expect(failed[0]).toMatchObject({
      error: expect.stringMatching(
        /^MCP server notes did not start: .*\(its stderr: notes: no database\)$/,
      ),
    });
    expect(harness.fake.requests).toEqual([]);
  });

  it('refuses to bind a folder for a server that would show it sheri’s own files', async () => {
    harness = await LlmTaskHarness.start([say('never asked')], { role: 'general', agent: false });
    const config = notesConfig();
    config.mcp.servers.notes.paths = [harness.swarm.dir]; // holds the agent's .sheri/
    const { fakeLlm } = await import('../helpers/llm-swarm.js');
    await harness.swarm.startAgent(
      'general',
      { ...fakeLlm(harness.fake), ...config },
      1,
      harness.repo,
    );
    await harness.submit({ task_id: 'peek', type: 'code.generate', max_attempts: 1 });
    const { failed } = await harness.outcomeOf('peek');
    expect(failed[0]).toMatchObject({
      retryable: false,
      error: expect.stringContaining(
        `mcp.servers: the folder ${harness.swarm.dir} would show the server sheri's own`,
      ),
    });
    expect(existsSync(join(harness.repo, 'mcp-calls.log'))).toBe(false);
  });

  it('offers the tools of a streamable HTTP server, sending the headers its entry names', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const http = createServer((req, res) => {
      seen.push(req.headers);
      // Stateless: a server and transport per request, as the SDK's examples do.
      const server = new McpServer({ name: 'issues', version: '1.0.0' });
      server.registerTool(
        'find_issue',
        { description: 'Find an issue by number.', inputSchema: { number: z.number() } },
        async ({ number }) => ({
          content: [{ type: 'text', text: `issue ${number}: lease renewal is off by one` }],
        }),
      );
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => void transport.close());
      void server.connect(transport).then(() => transport.handleRequest(req, res));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
    harness = await LlmTaskHarness.start(
      [callTools([{ name: 'mcp__issues__find_issue', input: { number: 12 } }]), say('Found it.')],
      {
        config: {
          mcp: {
            servers: { issues: { url, headers: { authorization: 'Bearer ${ISSUES_TOKEN}' } } },
            roles: { review: { servers: ['issues'], allow: ['issues.find_*'] } },
          },
          environment: { ...withoutLlmSettings(process.env), ISSUES_TOKEN: 'tok-77' },
        },
      },
    );
    harness.swarm.onClose(async () => {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    });
    await harness.submit({ task_id: 'http-mcp' });
    const { complete } = await harness.outcomeOf('http-mcp');
    expect(complete).toMatchObject({ result: { text: 'Found it.' } });
    const results = harness.fake.requests[1]!.body.messages[2].content as ResultSent[];
    expect(results[0]!.content).toBe('issue 12: lease renewal is off by one');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((headers) => headers.authorization === 'Bearer tok-77')).toBe(true);
  });

  it('leaves no MCP server running when its agent is killed (kill -9) in the middle of a task', async () => {
    if (!requireTool('bwrap')) return;
    const swarm = new TestSwarm();
    closeLast = () => swarm.close();
    await swarm.startBroker();
    await swarm.startHub();
    // The model never answers: the task is mid-way, its MCP server up, when the agent dies.
    const fake = await FakeLlmServer.start([], {
      whenDone: { kind: 'reply', text: 'x', stall: true },
    });
    swarm.onClose(() => fake.close());
    const workspace = join(swarm.dir, 'ws');
    mkdirSync(workspace);
    const configFile = join(swarm.dir, 'sheri.config.json');
    writeFileSync(configFile, JSON.stringify({ mcp: notesConfig().mcp }));
    const agent = startSheri(
      [
        'agent',
        '--role',
        'general',
        '--broker',
        swarm.brokerUrl,
        '--swarm',
        swarm.swarm,
        '--workspace',
        workspace,
        '--data-dir',
        join(swarm.dir, '.sheri'),
        '--config',
        configFile,
      ],
      {
        cwd: swarm.dir,
        env: { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: fake.anthropicBaseUrl },
      },
    );
    swarm.onClose(() => agent.kill('SIGKILL'));
    await agent.waitForOutput('joined swarm');
    await swarm.submit([{ task_id: 'doomed', type: 'code.generate', payload: {}, prompt: 'Go' }]);
    await until(() => fake.requests.length === 1 && processesWith(SERVER).length > 0);
    expect(processesWith('sleep 301').length).toBeGreaterThan(0);
    await agent.kill('SIGKILL');
    await until(
      () => processesWith(SERVER).length === 0 && processesWith('sleep 301').length === 0,
    );
  });
});

/** Resolve once `check` holds, looking every 50 ms; fail after 10 s (processes have no event to await). */
async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not so after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
