import { randomBytes, randomUUID } from 'node:crypto';
import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import type { FlowDefinition, FlowSubmit, FlowUpdate } from '../protocol/flow-messages.js';
import { topicFor } from '../protocol/topic-table.js';
import type { FlowDetail } from '../tasks/flow-queries.js';
import type { Bus } from '../transport/bus.js';
import { queryHub, readHubStatus } from './hub-client.js';
import { visible } from '../util/text.js';
import { FlowWatcher, type FlowVerdict } from './flow-watcher.js';
import {
  ANSI_PAINT,
  formatDuration,
  NO_PAINT,
  summaryLines,
  table,
  type Paint,
} from './flow-view.js';
import {
  ago,
  connectCli,
  makeConfig,
  makeLogger,
  printJson,
  printText,
  type GlobalFlags,
} from './common.js';

interface RunFlags extends GlobalFlags {
  var: string[];
  wait?: boolean;
  waitTimeout?: number;
  hubCheck?: boolean;
}

export async function showFlow(flowId: string, flags: GlobalFlags): Promise<void> {
  const detail = (await ask(flags, { kind: 'flow', flow_id: flowId })) as FlowDetail;
  if (flags.json) return printJson(detail);
  // Colours of its own: what the swarm said in it is made visible where it is put in.
  process.stdout.write(
    `${[...summaryLines(detail, paintFor(process.stdout, makeConfig(flags).environment)), ...outputsOf(detail)].join('\n')}\n`,
  );
}

export async function cancelFlow(
  flowId: string,
  flags: GlobalFlags & { reason?: string },
): Promise<void> {
  const data = (await ask(flags, {
    kind: 'cancel_flow',
    flow_id: flowId,
    ...(flags.reason ? { reason: flags.reason } : {}),
  })) as { flow_id: string; canceled: number };
  if (flags.json) return printJson(data);
  printText(`canceled flow ${data.flow_id}: ${data.canceled} queued or running step(s) stopped\n`);
}

export async function listFlows(
  flags: GlobalFlags & { state?: string; limit: number },
): Promise<void> {
  const data = (await ask(flags, {
    kind: 'flows',
    limit: flags.limit,
    ...(flags.state ? { state: flags.state } : {}),
  })) as { flows: FlowUpdate[] };
  if (flags.json) return printJson(data);
  if (data.flows.length === 0) {
    printText('no flows — run one with: npx sheri flow run examples/deploy-flow.yaml --wait\n');
    return;
  }
  const rows = data.flows.map((f) => [
    f.flow_id,
    f.state,
    `${f.steps.filter((s) => s.state === 'complete').length}/${f.steps.length}`,
    ago(f.created_at),
    f.finished_at ? formatDuration(Date.parse(f.finished_at) - Date.parse(f.created_at)) : '-',
    f.error ?? '',
  ]);
  printText(`${table(['FLOW', 'STATE', 'DONE', 'STARTED', 'TOOK', 'ERROR'], rows).join('\n')}\n`);
}

/** `sheri schedules`. */
export async function listSchedules(flags: GlobalFlags): Promise<void> {
  const data = (await ask(flags, { kind: 'schedules' })) as {
    schedules: {
      name: string;
      source: string;
      timing: string;
      runs: string;
      next_run: string | null;
      last_run: string | null;
      last_state: string | null;
      skipped: number;
      missed: string;
    }[];
  };
  if (flags.json) return printJson(data);
  if (data.schedules.length === 0) {
    printText('no schedules (add "schedules" to the hub\'s sheri.config.json)\n');
    return;
  }
  const rows = data.schedules.map((s) => [
    s.name,
    s.source,
    s.timing,
    s.runs,
    s.next_run ?? '-',
    s.last_run ? `${s.last_run} (${s.last_state ?? 'pruned'})` : '-',
    `${s.skipped} (${s.missed})`,
  ]);
  printText(
    `${table(['SCHEDULE', 'FROM', 'WHEN', 'RUNS', 'NEXT RUN', 'LAST RUN', 'SKIPPED'], rows).join('\n')}\n`,
  );
}

export async function removeSchedule(name: string, flags: GlobalFlags): Promise<void> {
  await ask(flags, { kind: 'unschedule', name });
  printText(`removed schedule ${name}\n`);
}

/** "version=1.2.0" pairs → a map; a malformed one is a usage error. */
export function parseVars(pairs: readonly string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new SheriError(`--var "${pair}" is not name=value`, EXIT.usage);
    vars[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return vars;
}

/** A flow file, checked, or the refusal naming each problem's line (exit 2). */
export async function loadFlowOrExit(
  file: string,
  vars: Record<string, string>,
  config: Config,
): Promise<FlowDefinition> {
  // The YAML parser loads when a flow file is read, not with every command (--help).
  const { FlowFileError, readFlowFile } = await import('../flows/load-flow.js');
  try {
    return readFlowFile(file, { vars, taskTypes: config.taskTypes });
  } catch (error) {
    if (error instanceof FlowFileError) throw new SheriError(error.message, EXIT.usage);
    throw error;
  }
}

/** `<name>-<8 hex>`: unique for ever, like a task id. */
export function newFlowId(name: string): string {
  return `${name}-${randomBytes(4).toString('hex')}`;
}

export async function runFlowCommand(file: string, flags: RunFlags): Promise<void> {
  const config = makeConfig(flags);
  const definition = await loadFlowOrExit(file, parseVars(flags.var), config);
  if (definition.schedule && flags.wait) {
    throw new SheriError(
      `${file} has a schedule: it runs once per slot, so there is no one run to --wait for (drop --wait; sheri schedules, sheri flows)`,
      EXIT.usage,
    );
  }
  const bus = await connectCli(config, makeLogger({ ...flags, logLevel: 'warn' }));
  try {
    if (flags.hubCheck !== false) await checkHubOnline(bus, config);
    const flow: FlowSubmit = { ...definition, flow_id: newFlowId(definition.name) };
    if (definition.schedule) return await registerSchedule(bus, config, flow, flags);
    if (!flags.wait) {
      await bus.publish(topicFor('flowsNew'), flow);
      if (flags.json) printJson(flow);
      else printText(`${flow.flow_id}\n`);
      return;
    }
    const verdict = await submitAndFollow(bus, config, flow, {
      json: Boolean(flags.json),
      ...(flags.waitTimeout ? { waitTimeoutS: flags.waitTimeout } : {}),
    });
    if (verdict.code !== EXIT.ok) process.exitCode = verdict.code;
  } finally {
    await bus.close();
  }
}

/**
 * Listen, publish, follow the flow with the live view on stderr, then print the summary (or the
 * final record as JSON) on stdout. `sheri demo` uses it too.
 */
export async function submitAndFollow(
  bus: Bus,
  config: Config,
  flow: FlowSubmit,
  options: {
    json: boolean;
    waitTimeoutS?: number;
    out?: NodeJS.WriteStream;
    err?: NodeJS.WriteStream;
  },
): Promise<FlowVerdict> {
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  const messageId = randomUUID();
  const watcher = await FlowWatcher.start(bus, flow.flow_id, messageId, flow, {
    live: Boolean(err.isTTY) && !options.json,
    paint: paintFor(err, config.environment),
    detail: async (id) => await queryHub(bus, config, { kind: 'flow', flow_id: id }),
    write: (text) => err.write(text),
    columns: () => err.columns ?? 100,
    ...(options.waitTimeoutS ? { waitTimeoutS: options.waitTimeoutS } : {}),
  });
  const stopOnSignal = (): void => watcher.stop();
  process.once('SIGINT', stopOnSignal);
  try {
    await bus.publish(topicFor('flowsNew'), flow, { id: messageId });
    err.write(
      `submitted flow ${flow.flow_id} (${flow.steps.length} steps) to swarm ${config.swarm}\n`,
    );
    const verdict = await watcher.outcome();
    if (verdict.refused) err.write(`${verdict.refused}\n`);
    if (verdict.detail) {
      if (options.json) out.write(`${JSON.stringify(verdict.detail, null, 2)}\n`);
      else
        out.write(
          `${summaryLines(verdict.detail, paintFor(out, config.environment)).join('\n')}\n`,
        );
    }
    return verdict;
  } finally {
    process.removeListener('SIGINT', stopOnSignal);
    watcher.stop();
  }
}

async function registerSchedule(
  bus: Bus,
  config: Config,
  flow: FlowSubmit,
  flags: RunFlags,
): Promise<void> {
  await bus.publish(topicFor('flowsNew'), flow);
  // The hub says nothing back on success: ask it until the schedule is listed.
  for (const delayMs of [100, 200, 400, 800, 1_600]) {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    const data = await queryHub(bus, config, { kind: 'schedules' });
    const found = data.schedules.find((s) => s.name === flow.name);
    if (found) {
      if (flags.json) return printJson(found);
      printText(
        `scheduled flow ${flow.name}: ${found.timing}, next run ${found.next_run ?? '-'}\n`,
      );
      return;
    }
  }
  throw new SheriError(
    `the hub did not list schedule ${flow.name}; see sheri trace --filter errors for why`,
    EXIT.unavailable,
  );
}

/** A flow published where no hub ever ran would reach no one (as for tasks). */
async function checkHubOnline(bus: Bus, config: Config): Promise<void> {
  const status = await readHubStatus(bus);
  if (!status) {
    throw new SheriError(
      `no hub has run on swarm "${config.swarm}" at ${config.broker}, so a flow published now would reach no one — start one with \`npx sheri up\` or \`npx sheri demo\` (or pass --no-hub-check)`,
      EXIT.unavailable,
    );
  }
  if (status.state === 'offline') {
    process.stderr.write(
      `warning: the hub of swarm "${config.swarm}" is offline; the flow waits for it in its session\n`,
    );
  }
}

async function ask(flags: GlobalFlags, query: Parameters<typeof queryHub>[2]): Promise<unknown> {
  const config = makeConfig(flags);
  const bus = await connectCli(config, makeLogger(flags));
  try {
    return await queryHub(bus, config, query);
  } finally {
    await bus.close();
  }
}

/** Each step's outputs, for `flow show`. */
function outputsOf(detail: FlowDetail): string[] {
  // What the steps' commands wrote: shown, never acted on by the terminal.
  const lines = detail.steps
    .filter((step) => Object.keys(step.outputs).length > 0)
    .map((step) =>
      visible(
        `  ${step.id}: ${Object.entries(step.outputs)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
      ),
    );
  return lines.length > 0 ? ['', 'outputs:', ...lines] : [];
}

export function paintFor(
  stream: { isTTY?: boolean },
  env: Readonly<Record<string, string | undefined>>,
): Paint {
  return stream.isTTY && !env.NO_COLOR ? ANSI_PAINT : NO_PAINT;
}
