import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import { silentLogger } from '../logging/logger.js';
import type { DashboardEvent } from '../dashboard/view-model.js';
import type { ApprovalView } from '../dashboard/view-model.js';
import type { TaskList, TaskSummary } from '../protocol/hub-replies.js';
import type { Bus } from '../transport/bus.js';
import { answerApproval } from './approvals.js';
import { queryHub } from './hub-client.js';
import type { FlowUpdate } from '../protocol/flow-messages.js';
import { connectCli, makeConfig, makeLogger, type GlobalFlags } from './common.js';
import { MAX_LISTED_TASKS } from '../protocol/limits.js';

/** Active tasks the snapshot asks for per state, and finished ones to show at start. */
/** The most a `tasks` query lists: the monitor's snapshot of what is queued or running. */
const SNAPSHOT_ACTIVE = MAX_LISTED_TASKS;
const SNAPSHOT_FINISHED = 500;
const TICK_MS = 1_000;

export async function runMonitor(flags: GlobalFlags): Promise<void> {
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    throw new SheriError(
      'sheri monitor draws on a terminal, and this is not one; use `sheri trace` to follow the swarm in a pipe or a log',
      EXIT.usage,
    );
  }
  makeLogger(flags); // validates --log-format like every command; nothing may log over the screen
  const config = makeConfig(flags);
  // An operator's credential (the local store's), an observer's, or none (loopback, redacted).
  const bus = await connectCli(config, silentLogger(), 5_000, 'reader');
  // Only an operator may ask the hub and answer approvals (PROTOCOL §15.3).
  const operator =
    bus.security?.keyring.identity?.kind === 'operator' || bus.security?.signing === false;
  // Lazily: blessed and the dashboard load only for this command, so `sheri --help` stays fast.
  const { DashboardScreen } = await import('../dashboard/screen.js');
  const { createState } = await import('../dashboard/view-model.js');
  const { reduce } = await import('../dashboard/reduce.js');
  const { decodeBusEvent } = await import('../dashboard/bus-event.js');

  const state = createState({}, Date.now());
  // Live messages wait until the hub's snapshot is applied, so the snapshot never overwrites
  // newer news (view-model: applySnapshot).
  let held: DashboardEvent[] | null = [];
  let quit: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (quit = resolve));
  const screen = new DashboardScreen(state, {
    where: { swarm: config.swarm, broker: config.broker },
    actions: {
      decide: (approval, approved, reason) =>
        operator
          ? void decide(bus, config, approval, approved, reason, dispatch)
          : dispatch({
              kind: 'note',
              at: Date.now(),
              level: 'error',
              text: 'only an operator answers approvals: run sheri monitor with an operator credential',
            }),
      note: (text) => dispatch({ kind: 'note', at: Date.now(), level: 'info', text }),
      openTask: (taskId) => {
        if (state.hub.snapshot === 'unavailable') {
          screen.showHubDetail(taskId, 'no hub answered at start');
          return;
        }
        queryHub(bus, config, { kind: 'task', task_id: taskId }).then(
          (detail) => screen.showHubDetail(taskId, detail),
          (error: Error) => screen.showHubDetail(taskId, error.message),
        );
      },
      quit: () => quit(),
    },
  });
  function dispatch(event: DashboardEvent): void {
    if (held && event.kind === 'message') {
      held.push(event);
      return;
    }
    reduce(state, event);
    screen.invalidate();
  }

  bus.onMessage((local, bytes) => {
    // Replies to queries (ours, and other CLIs'): large, and not news.
    if (local.startsWith('hub/replies/')) return;
    const event = decodeBusEvent(local, bytes);
    // The retained request of an agent that died while it waited: nobody will clear it but us.
    if (event.kind === 'approvals/pending' && Date.parse(event.payload.deadline) < Date.now()) {
      void bus.publishRaw(local, '', { retain: true }).catch(() => undefined);
    }
    dispatch({ kind: 'message', at: Date.now(), event });
  });
  bus.client.on('offline', () => dispatch({ kind: 'broker', at: Date.now(), connected: false }));
  bus.client.on('connect', () => dispatch({ kind: 'broker', at: Date.now(), connected: true }));
  const ticker = setInterval(() => dispatch({ kind: 'tick', at: Date.now() }), TICK_MS);
  const onSignal = (): void => quit();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await bus.subscribe({ '#': 1 });
    const snapshot: DashboardEvent = operator
      ? await loadSnapshot(bus, config)
      : {
          kind: 'snapshot-failed',
          at: Date.now(),
          reason: 'not an operator, so not asking the hub',
        };
    const heldEvents = held;
    held = null;
    dispatch(snapshot);
    for (const event of heldEvents) dispatch(event);
    // Our credential revoked or rotated meanwhile: nothing more would reach the screen (exit 3,
    // said once the terminal is restored).
    const ended = await Promise.race([done, bus.loginRefused()]);
    if (ended instanceof SheriError) throw ended;
  } finally {
    clearInterval(ticker);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    screen.close();
    await bus.close();
  }
}

/** The hub's tasks and agents (PROTOCOL §10), or why there are none. */
async function loadSnapshot(bus: Bus, config: Config): Promise<DashboardEvent> {
  const list = (state?: string): Promise<TaskList> =>
    queryHub(bus, config, {
      kind: 'tasks',
      ...(state ? { state, limit: SNAPSHOT_ACTIVE } : { limit: SNAPSHOT_FINISHED }),
    });
  try {
    const [agents, recent, ...active] = await Promise.all([
      queryHub(bus, config, { kind: 'agents' }),
      list(),
      list('assigned'),
      list('queued'),
      list('blocked'),
    ]);
    const tasks = new Map<string, TaskSummary>();
    for (const task of [...active.flatMap((reply) => reply.tasks), ...recent.tasks]) {
      tasks.set(task.task_id, task);
    }
    // Newest first, as the hub sends them.
    const ordered = [...tasks.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
    // A hub from before flows (PROTOCOL §17) refuses the query: no flows then.
    const flows: FlowUpdate[] = await queryHub(bus, config, { kind: 'flows', limit: 20 })
      .then((reply) => reply.flows)
      .catch(() => []);
    return {
      kind: 'snapshot',
      at: Date.now(),
      tasks: ordered,
      counts: recent.counts,
      agents: agents.agents,
      flows,
      ...(agents.budget ? { budget: agents.budget } : {}),
    };
  } catch (error) {
    return { kind: 'snapshot-failed', at: Date.now(), reason: (error as Error).message };
  }
}

async function decide(
  bus: Bus,
  config: Config,
  approval: ApprovalView,
  approved: boolean,
  reason: string,
  dispatch: (event: DashboardEvent) => void,
): Promise<void> {
  const verb = approved ? 'approved' : 'denied';
  try {
    // To the hub, which checks it, records who answered, and forwards it (PROTOCOL §13); its
    // refusal (answered already, expired) is said as `sheri approve` says it.
    await answerApproval(
      bus,
      config,
      approval.approvalId,
      approved,
      reason || `${verb} from sheri monitor`,
    );
    dispatch({
      kind: 'note',
      at: Date.now(),
      level: 'info',
      text: `you ${verb} ${approval.approvalId}: ${approval.command}${reason ? ` (${reason})` : ''}`,
    });
  } catch (error) {
    dispatch({
      kind: 'note',
      at: Date.now(),
      level: 'error',
      text: `not ${verb}: ${(error as Error).message}`,
    });
  }
}
