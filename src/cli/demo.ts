import { openSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import { resolveLlmSettings } from '../llm/settings.js';
import { createLogger } from '../logging/logger.js';
import type { FlowDefinition, FlowStep, FlowSubmit } from '../protocol/flow-messages.js';
import { rolesForType } from '../protocol/task-types.js';
import type { Bus } from '../transport/bus.js';
import { Tmux } from '../tmux/tmux.js';
import { connectCli, makeConfig, untilSignal, type GlobalFlags } from './common.js';
import { DEMO_SWARM } from './commands/demo.js';
import { EventTally } from './demo-events.js';
import {
  examplesDir,
  makeDemoRoot,
  removeDemoRoot,
  startDemoSwarm,
  type DemoSwarm,
} from './demo-swarm.js';
import { formatDuration } from './flow-view.js';
import { loadFlowOrExit, newFlowId, paintFor, submitAndFollow } from './flow.js';

export interface DemoFlags extends GlobalFlags {
  keep?: boolean;
  port?: number;
  tmux?: boolean;
}

export async function runDemo(flags: DemoFlags): Promise<void> {
  const started = Date.now();
  const out = process.stdout;
  const err = process.stderr;
  const say = (line: string): void => void err.write(`${line}\n`);
  const { root, configFile, dataDir } = makeDemoRoot();
  const logFile = join(root, 'demo.log');
  // The swarm's logs go to a file: the terminal is the flow's.
  const logFd = openSync(logFile, 'a');
  const logger = createLogger({
    level: flags.logLevel ?? 'info',
    format: 'json',
    fd: logFd,
    isTTY: false,
  });
  const demoFlags = {
    ...flags,
    swarm: flags.swarm ?? DEMO_SWARM,
    config: flags.config ?? configFile,
    dataDir,
  };
  let swarm: DemoSwarm | undefined;
  let bus: Bus | undefined;
  const interrupted = untilSignal().then(() => undefined);
  try {
    const base = makeConfig(demoFlags);
    const definition = await demoDefinition(base);
    const roles = [
      ...new Set(definition.steps.map((step) => rolesForType(base.taskTypes, step.type)[0]!)),
    ];
    const useTmux = flags.tmux ?? (Boolean(out.isTTY) && (await tmuxInstalled()));
    say(
      `sheri demo: the ${definition.steps.length} steps of examples/deploy-flow.yaml on a copy of examples/service`,
    );
    say(
      `starting the embedded broker, the hub and ${roles.length} agents (${roles.join(', ')})${useTmux ? ' in tmux' : ''}…`,
    );
    const starting = startDemoSwarm({
      flags: demoFlags,
      roles,
      logger,
      logFile,
      root,
      // SHERI_TMUX_SOCKET: a tmux server of its own, as for sheri swarm tmux.
      ...(useTmux ? { tmux: new Tmux(base.environment.SHERI_TMUX_SOCKET || undefined) } : {}),
    });
    swarm = await Promise.race([starting, interrupted]);
    if (!swarm) {
      void starting.then((late) => late.close()).catch(() => undefined);
      throw new SheriError('interrupted before the swarm was up', 130);
    }
    const { config } = swarm;
    const port = new URL(config.broker).port;
    const watchLine = `mosquitto_sub -h 127.0.0.1 -p ${port} -t '${config.swarm}/#' -v`;
    say(
      `swarm ${config.swarm} is up on ${config.broker}; its files (log: demo.log) are in ${root}`,
    );
    say(`agents: ${swarm.agents.map((a) => `${a.agentId} (${a.sandbox})`).join(', ')}`);
    if (swarm.tmux)
      say(`watch them work: ${swarm.tmux.tmux.command} attach -t ${swarm.tmux.session}`);
    say(`watch the bus: ${watchLine}`);
    say('');
    bus = await connectCli(config, logger);
    const tally = await EventTally.start(bus);
    const flow: FlowSubmit = { ...definition, flow_id: newFlowId(definition.name) };
    const following = submitAndFollow(bus, config, flow, {
      json: Boolean(flags.json),
      ...(flags.json ? { out: silentStream() } : {}),
      err,
    });
    const verdict = await Promise.race([following, interrupted]);
    if (!verdict) throw new SheriError('interrupted: the swarm is stopped', 130);
    const url = verdict.detail?.steps
      .filter((s) => s.state === 'complete' && s.outputs.service && s.outputs.url)
      .at(-1)?.outputs.url;
    // The demo asks the service itself: it answers on its URL while the swarm runs.
    const health = url ? await askHealth(url) : undefined;
    const wallMs = Date.now() - started;
    if (flags.json) {
      const report = {
        flow: verdict.detail ?? null,
        refused: verdict.refused ?? null,
        service_url: url ?? null,
        health: health ?? null,
        events: tally.counts(),
        broker: config.broker,
        swarm: config.swarm,
        root,
        agents: swarm.agents,
        wall_ms: wallMs,
      };
      out.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      const paint = paintFor(out, config.environment);
      const lines = [''];
      if (url && health) lines.push(`GET ${url}/health → ${health.status} ${health.body.trim()}`);
      lines.push(`events on the bus: ${tally.describe() || 'none'}`);
      lines.push(`watch the bus: ${watchLine}`);
      lines.push(
        paint.bold(
          `demo ${verdict.code === EXIT.ok ? 'done' : 'ended'} in ${formatDuration(wallMs)}`,
        ),
      );
      out.write(`${lines.join('\n')}\n`);
    }
    if (flags.keep) {
      const common = `--broker ${config.broker} --swarm ${config.swarm} --data-dir ${dataDir}`;
      say(`\nthe swarm stays up (Ctrl-C stops it and removes ${root}); in another terminal:`);
      say(`  npx sheri flows ${common}`);
      say(`  npx sheri flow show ${flow.flow_id} ${common}`);
      say(`  npx sheri monitor ${common}`);
      if (url) say(`  curl ${url}/health`);
      await interrupted;
    }
    if (verdict.code !== EXIT.ok) process.exitCode = verdict.code;
  } finally {
    await bus?.close().catch(() => undefined);
    await swarm?.close();
    // The log's descriptor stays open until the process ends: something that logs as it stops
    // (a publish failing on a closed bus, a service's end) after a close here threw EBADF and
    // ended the demo with exit 70 (seen once in CI, under load). Its file is removed below.
    removeDemoRoot(root);
  }
}

/** examples/deploy-flow.yaml, with an LLM review of the code before deploy where Claude is at hand. */
async function demoDefinition(config: Config): Promise<FlowDefinition> {
  const definition = await loadFlowOrExit(join(examplesDir(), 'deploy-flow.yaml'), {}, config);
  if (resolveLlmSettings(config.llm, 'review').provider === 'none') return definition;
  const review: FlowStep = {
    id: 'review',
    type: 'code.review',
    payload: {},
    needs: ['build'],
    retries: 0,
    prompt:
      'Review the example service in this workspace (src/app.js and src/main.js) for bugs and security problems: read the files with your tools. Publish your verdict with publish_event on code/review as {"verdict": "approve" or "request-changes", "summary": "…"}, then answer in three sentences at most.',
  };
  return {
    ...definition,
    steps: definition.steps.flatMap((step) =>
      step.id === 'deploy' ? [review, { ...step, needs: [...step.needs, 'review'] }] : [step],
    ),
  };
}

async function tmuxInstalled(): Promise<boolean> {
  try {
    await new Tmux().run(['-V']);
    return true;
  } catch {
    return false;
  }
}

async function askHealth(url: string): Promise<{ status: number; body: string }> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(3_000) });
    return { status: response.status, body: (await response.text()).slice(0, 500) };
  } catch (error) {
    return { status: 0, body: `no answer: ${(error as Error).message}` };
  }
}

function silentStream(): NodeJS.WriteStream {
  return { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
}
