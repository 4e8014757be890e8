#!/usr/bin/env node
// Dashboard cost: feeds the view-model the messages of 200 agents running 10,000 tasks (decoded
// from bytes, as `sheri monitor` receives them), then times frames: the panes as text, and a real
// blessed screen drawn into a sink. Run after `npm run build`; figures go to docs/BENCHMARKS.md.
import { PassThrough, Writable } from 'node:stream';
import { cpus } from 'node:os';
import { decodeBusEvent } from '../dist/src/dashboard/bus-event.js';
import { layoutFor } from '../dist/src/dashboard/layout.js';
import { renderPanes } from '../dist/src/dashboard/panes.js';
import { reduce } from '../dist/src/dashboard/reduce.js';
import { DashboardScreen } from '../dist/src/dashboard/screen.js';
import { createState } from '../dist/src/dashboard/view-model.js';
import { encodeMessage } from '../dist/src/protocol/codec.js';

const AGENTS = Number(process.env.BENCH_AGENTS ?? 200);
const TASKS = Number(process.env.BENCH_TASKS ?? 10_000);
const FRAMES = Number(process.env.BENCH_FRAMES ?? 200);
const WIDTH = 200;
const HEIGHT = 50;

const agentId = (i) => `testing-${String(i).padStart(3, '0')}`;
const taskId = (i) => `testing.run-${String(i).padStart(6, '0')}`;

/** The bytes of every message, in the order a swarm would send them, with receive times. */
function buildMessages() {
  const messages = [];
  let clock = Date.parse('2026-11-21T16:00:00Z');
  const send = (local, sender, role, payload) => {
    clock += 1;
    messages.push({
      local,
      at: clock,
      bytes: Buffer.from(encodeMessage({ agentId: sender, role }, payload)),
    });
  };
  const heartbeat = (i, running) =>
    send('agents/heartbeat', agentId(i), 'testing', {
      status: 'alive',
      uptime: 60,
      memory: { rss: 90 * 1048576, heapTotal: 1, heapUsed: 1 },
      role: 'testing',
      running,
      free: running.length ? 0 : 1,
      usage: { input_tokens: 1000 * i, output_tokens: 100 * i, cost_usd: i / 100 },
    });
  for (let i = 0; i < AGENTS; i++) {
    send(`agents/${agentId(i)}/status`, agentId(i), 'testing', {
      state: 'online',
      role: 'testing',
      since: new Date(clock).toISOString(),
    });
    send('agents/register', agentId(i), 'testing', {
      role: 'testing',
      concurrency: 1,
      types: ['testing.run'],
    });
  }
  // The whole backlog first: the dashboard holds 10,000 active tasks at its peak.
  for (let t = 0; t < TASKS; t++) {
    send('tasks/new', 'cli-bench', 'cli', {
      task_id: taskId(t),
      type: 'testing.run',
      payload: {},
      commands: [`echo ${t}`],
    });
  }
  let beat = 0;
  for (let wave = 0; wave * AGENTS < TASKS; wave++) {
    const ids = [];
    for (let i = 0; i < AGENTS && wave * AGENTS + i < TASKS; i++) ids.push([i, wave * AGENTS + i]);
    for (const [i, t] of ids) {
      const spec = {
        task_id: taskId(t),
        type: 'testing.run',
        payload: {},
        commands: [`echo ${t}`],
      };
      send(`tasks/assigned/${agentId(i)}`, 'hub', 'hub', {
        task_id: taskId(t),
        agent_id: agentId(i),
        attempt: 1,
        lease_ms: 30_000,
        lease_expires_at: new Date(clock + 30_000).toISOString(),
        task: spec,
        inputs: {},
      });
      send('tasks/progress', agentId(i), 'testing', {
        task_id: taskId(t),
        attempt: 1,
        message: `running 1/1: echo ${t}`,
        percent: 0,
      });
      send('tasks/claim', agentId(i), 'testing', {
        free: 0,
        running: [{ task_id: taskId(t), attempt: 1 }],
      });
    }
    for (const [i, t] of ids) {
      send('tasks/progress', agentId(i), 'testing', {
        task_id: taskId(t),
        attempt: 1,
        message: `finished 1/1, exited 0 in 5 ms: echo ${t}`,
        percent: 100,
      });
      send('tasks/complete', agentId(i), 'testing', {
        task_id: taskId(t),
        attempt: 1,
        duration_ms: 6,
        result: { commands: [{ command: `echo ${t}`, exit_code: 0, stdout: `${t}\n` }] },
      });
      send('tasks/claim', agentId(i), 'testing', { free: 1, running: [] });
    }
    // Heartbeats: every agent every 10 s; a wave stands for about 1 s of a busy swarm.
    for (let k = 0; k < AGENTS / 10; k++, beat++) heartbeat(beat % AGENTS, []);
  }
  return messages;
}

/** A terminal that is not there: blessed writes into it, nobody reads. */
function sinkTerminal() {
  const output = new Writable({ write: (_chunk, _encoding, done) => done() });
  Object.assign(output, { isTTY: true, columns: WIDTH, rows: HEIGHT });
  const input = new PassThrough();
  Object.assign(input, { isTTY: true, setRawMode: () => input });
  return { input, output };
}

function timeFrames(label, frame, mutate) {
  const samples = [];
  for (let i = 0; i < FRAMES; i++) {
    mutate(i);
    const start = performance.now();
    frame();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const mean = samples.reduce((sum, s) => sum + s, 0) / samples.length;
  const p99 = samples[Math.floor(samples.length * 0.99)];
  console.log(
    `${label.padEnd(44)} mean ${mean.toFixed(2)} ms  p99 ${p99.toFixed(2)} ms  (${FRAMES} frames)`,
  );
}

const messages = buildMessages();
console.log(
  `bench-dashboard: ${AGENTS} agents, ${TASKS} tasks, ${messages.length} messages; ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}`,
);

// 1. Decode and reduce, as the monitor does for each message; then reduce alone.
let state = createState();
let start = performance.now();
let peak = null;
for (const [n, message] of messages.entries()) {
  reduce(state, {
    kind: 'message',
    at: message.at,
    event: decodeBusEvent(message.local, message.bytes),
  });
  if (n === 2 * AGENTS + TASKS - 1) peak = { tasks: state.tasks.size };
}
let seconds = (performance.now() - start) / 1000;
console.log(
  `decode + reduce: ${Math.round(messages.length / seconds).toLocaleString('en')} events/s (${seconds.toFixed(2)} s; peak ${peak.tasks} tasks held, ${state.tasks.size} at the end, ${state.counters.complete} counted complete)`,
);
const decoded = messages.map((message) => ({
  kind: 'message',
  at: message.at,
  event: decodeBusEvent(message.local, message.bytes),
}));
state = createState();
start = performance.now();
for (const event of decoded) reduce(state, event);
seconds = (performance.now() - start) / 1000;
console.log(
  `reduce alone:    ${Math.round(decoded.length / seconds).toLocaleString('en')} events/s`,
);

// 2. Frames, with the state at its peak: 10,000 tasks active (every task queued, one wave running).
const peakState = createState();
const firstWave = 2 * AGENTS + TASKS + 3 * AGENTS;
for (const event of decoded.slice(0, firstWave)) reduce(peakState, event);
const rest = decoded.slice(firstWave);
const view = {
  pane: 'tasks',
  selected: { tasks: 0, agents: 0, approvals: 0 },
  offset: { tasks: 0, agents: 0 },
  filter: '',
};
const where = { swarm: 'bench', broker: 'mqtt://127.0.0.1:1883' };
const layout = layoutFor(WIDTH, HEIGHT, peakState);
const advance = (i) => reduce(peakState, rest[i % rest.length]);
console.log(
  `frames at the peak: ${peakState.tasks.size} tasks held, ${peakState.byState.queued.size} queued, ${peakState.byState.running.size} running`,
);
timeFrames(
  'panes as text (renderPanes)',
  () => renderPanes(peakState, view, layout, where),
  advance,
);
timeFrames(
  'panes as text, filter "testing-1" (all tasks)',
  () => renderPanes(peakState, { ...view, filter: 'testing-1' }, layout, where),
  advance,
);
const screen = new DashboardScreen(peakState, {
  where,
  actions: { decide() {}, openTask() {}, quit() {} },
  terminal: 'xterm-256color',
  ...sinkTerminal(),
});
timeFrames('blessed screen, 200×50 (renderNow)', () => screen.renderNow(), advance);
screen.close();
