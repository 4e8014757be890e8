import blessed from 'blessed';
import { layoutFor, type Layout } from './layout.js';
import { escapeTags, renderPanes, type PaneView, type Where } from './panes.js';
import { selectApprovals } from './select.js';
import { taskDetailLines, type HubTaskDetail } from './task-detail.js';
import type { ApprovalView, DashboardState } from './view-model.js';
import { visible } from '../util/text.js';

export type Pane = 'tasks' | 'agents' | 'approvals';
const PANES: readonly Pane[] = ['tasks', 'agents', 'approvals'];
const FILTER_PROMPT = 'filter (enter applies, esc cancels, empty shows all): ';

/** What the keys do beyond the screen itself: the controller (src/cli/monitor.ts) acts. */
export interface ScreenActions {
  /** A person confirmed an answer, with the reason they typed (empty: none given). */
  decide(approval: ApprovalView, approved: boolean, reason: string): void;
  /** Something to say in the feed. */
  note(text: string): void;
  openTask(taskId: string): void;
  quit(): void;
}

export interface ScreenOptions {
  where: Where;
  actions: ScreenActions;
  /** Streams and terminal type: the terminal's by default; the benchmark draws into a sink. */
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  terminal?: string;
  /** At most one redraw per this many ms, however many events arrive (default 100: 10/s). */
  frameMs?: number;
}

/**
 * The blessed dashboard: draws the state through the selectors, at most 10 times a second, and
 * turns keys into actions. It holds only what is on screen (focus, selection, filter, detail).
 */
export class DashboardScreen {
  readonly view: PaneView = {
    pane: 'tasks',
    selected: { tasks: 0, agents: 0, approvals: 0 },
    offset: { tasks: 0, agents: 0 },
    filter: '',
  };
  private readonly screen: blessed.Widgets.Screen;
  private readonly boxes: Record<keyof Layout, blessed.Widgets.BoxElement>;
  private readonly prompt: blessed.Widgets.TextboxElement;
  private detail: { taskId: string; hub: HubTaskDetail | string | undefined } | null = null;
  /** The task ids of the rows drawn last, so Enter opens the row the user sees. */
  private shownTasks: string[] = [];
  private shownAgentTasks: (string | undefined)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastFrameAt = 0;
  private closed = false;
  /** A prompt (filter, or an approval's reason) holds the keyboard and the bottom line. */
  private prompting: string | undefined;

  constructor(
    private readonly state: DashboardState,
    private readonly options: ScreenOptions,
  ) {
    this.screen = quietly(() =>
      blessed.screen({
        smartCSR: true,
        title: `sheri monitor ${options.where.swarm}`,
        warnings: false,
        // @types/blessed has these two streams' types wrong (input as a Writable).
        ...(options.input ? { input: options.input as never } : {}),
        ...(options.output ? { output: options.output as never } : {}),
        ...(options.terminal ? { terminal: options.terminal } : {}),
      }),
    );
    // In a UTF-8 locale draw borders as Unicode line characters rather than the terminal's
    // alternate character set: same look, and `tmux capture-pane` and logs can read them.
    const tput = this.screen.tput as unknown as { unicode: boolean; brokenACS: boolean };
    if (tput.unicode) tput.brokenACS = true;
    // Ctrl-C quits even while the filter prompt holds the keyboard.
    (this.screen as unknown as { ignoreLocked: string[] }).ignoreLocked = ['C-c'];
    const box = (extra: blessed.Widgets.BoxOptions = {}): blessed.Widgets.BoxElement =>
      blessed.box({ parent: this.screen, tags: true, ...extra });
    const framed = { border: { type: 'line' as const }, style: { border: { fg: 'grey' } } };
    this.boxes = {
      header: box(),
      agents: box(framed),
      tasks: box(framed),
      flows: box(framed),
      approvals: box(framed),
      feed: box(framed),
      footer: box(),
      detail: box({
        ...framed,
        hidden: true,
        scrollable: true,
        alwaysScroll: true,
        label: ' task (esc closes, up/down scroll) ',
        style: { border: { fg: 'cyan' }, bg: 'black' },
      }),
    };
    this.prompt = blessed.textbox({
      parent: this.screen,
      bottom: 0,
      left: 0,
      height: 1,
      hidden: true,
    });
    this.bindKeys();
    this.screen.on('resize', () => this.renderNow());
    this.renderNow();
  }

  /** Something changed: redraw within `frameMs`, once, however many calls come meanwhile. */
  invalidate(): void {
    if (this.timer || this.closed) return;
    const frameMs = this.options.frameMs ?? 100;
    const wait = Math.max(0, this.lastFrameAt + frameMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.renderNow();
    }, wait);
  }

  /** Draw now (the benchmark times this). */
  renderNow(): void {
    if (this.closed) return;
    this.lastFrameAt = Date.now();
    const layout = layoutFor(this.screen.width as number, this.screen.height as number, this.state);
    for (const [name, position] of Object.entries(layout)) {
      Object.assign(this.boxes[name as keyof Layout].position, position);
    }
    const drawn = renderPanes(this.state, this.view, layout, this.options.where);
    this.shownTasks = drawn.taskIds;
    this.shownAgentTasks = drawn.agentTaskIds;
    for (const name of [
      'header',
      'agents',
      'tasks',
      'flows',
      'approvals',
      'feed',
      'footer',
    ] as const) {
      this.boxes[name].setContent(drawn.content[name]);
    }
    // No flows yet: no pane (blessed draws a box of height 0 as its border).
    if (layout.flows.height === 0) this.boxes.flows.hide();
    else this.boxes.flows.show();
    if (this.prompting !== undefined) {
      this.boxes.footer.setContent(`{yellow-fg}${escapeTags(this.prompting)}{/yellow-fg}`);
    }
    for (const [name, label] of Object.entries(drawn.labels)) {
      this.boxes[name as keyof Layout].setLabel(label);
    }
    if (this.detail) {
      this.boxes.detail.setContent(
        blessed.escape(
          visible(taskDetailLines(this.state, this.detail.taskId, this.detail.hub).join('\n')),
        ),
      );
    }
    this.screen.render();
  }

  /** The hub's answer for the task whose detail is open (or why there is none). */
  showHubDetail(taskId: string, hub: HubTaskDetail | string): void {
    if (this.detail?.taskId !== taskId) return;
    this.detail.hub = hub;
    this.invalidate();
  }

  /** Restore the terminal. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.screen.destroy();
  }

  private bindKeys(): void {
    const { screen, view } = this;
    const redraw = (): void => this.renderNow();
    screen.key(['q', 'C-c'], () => this.options.actions.quit());
    screen.key(['tab'], () => {
      view.pane = PANES[(PANES.indexOf(view.pane) + 1) % PANES.length]!;
      redraw();
    });
    screen.key(['S-tab'], () => {
      view.pane = PANES[(PANES.indexOf(view.pane) + PANES.length - 1) % PANES.length]!;
      redraw();
    });
    const move = (delta: number) => (): void => {
      if (this.detail) {
        this.boxes.detail.scroll(delta);
      } else {
        view.selected[view.pane] = Math.max(0, view.selected[view.pane] + delta);
      }
      redraw();
    };
    screen.key(['down', 'j'], move(1));
    screen.key(['up', 'k'], move(-1));
    screen.key(['pagedown'], move(10));
    screen.key(['pageup'], move(-10));
    screen.key(['enter'], () => this.openSelected());
    screen.key(['escape'], () => {
      if (this.detail) this.closeDetail();
      else view.filter = '';
      redraw();
    });
    // Nothing is answered on a single key: the person confirms, and may say why.
    screen.key(['a', 'd'], (ch: string) => {
      const approval = this.approvalTarget();
      if (approval) this.readDecision(approval, ch === 'a');
    });
    screen.key(['/'], () => this.readFilter());
  }

  private openSelected(): void {
    const { view } = this;
    let taskId: string | undefined;
    if (view.pane === 'tasks') taskId = this.shownTasks[view.selected.tasks - view.offset.tasks];
    if (view.pane === 'agents') {
      taskId = this.shownAgentTasks[view.selected.agents - view.offset.agents];
    }
    if (view.pane === 'approvals') taskId = this.approvalTarget()?.taskId;
    if (!taskId) return;
    this.detail = { taskId, hub: undefined };
    this.boxes.detail.show();
    this.boxes.detail.setScroll(0);
    this.boxes.detail.focus();
    this.options.actions.openTask(taskId);
    this.renderNow();
  }

  private closeDetail(): void {
    this.detail = null;
    this.boxes.detail.hide();
  }

  /** The open task's pending approval, else the one selected in the approvals pane. */
  private approvalTarget(): ApprovalView | undefined {
    const approvals = selectApprovals(this.state);
    const forDetail = this.detail && approvals.find((a) => a.taskId === this.detail!.taskId);
    if (forDetail) return forDetail;
    return approvals[Math.min(this.view.selected.approvals, approvals.length - 1)];
  }

  private readFilter(): void {
    this.readLine(FILTER_PROMPT, this.view.filter, (value) => {
      // Escape gives null: keep the filter as it was.
      if (value === null) return;
      this.view.filter = value.trim();
      this.view.selected.tasks = 0;
      this.view.selected.agents = 0;
    });
  }

  private readDecision(approval: ApprovalView, approved: boolean): void {
    const verb = approved ? 'approve' : 'deny';
    const command =
      approval.command.length > 60 ? `${approval.command.slice(0, 59)}~` : approval.command;
    const question = `${verb} ${approval.approvalId} \`${command}\`? reason (enter to ${verb}, esc cancels): `;
    this.readLine(question, '', (value) => {
      if (value === null) {
        this.options.actions.note(`not answered: ${approval.approvalId} still waits`);
        return;
      }
      this.options.actions.decide(approval, approved, value.trim());
    });
  }

  /** Read a line on the bottom row; `done` gets null when escape cancels it. */
  private readLine(prompt: string, initial: string, done: (value: string | null) => void): void {
    this.prompting = prompt;
    this.prompt.left = Math.min(prompt.length, Math.max(0, (this.screen.width as number) - 10));
    this.prompt.width = Math.max(10, (this.screen.width as number) - (this.prompt.left as number));
    this.prompt.setValue(initial);
    this.prompt.show();
    this.prompt.focus();
    this.renderNow();
    this.prompt.readInput((_error, value) => {
      this.prompting = undefined;
      this.prompt.hide();
      done(typeof value === 'string' ? value : null);
      this.renderNow();
    });
  }
}

/**
 * blessed prints each terminfo capability it cannot compile (screen-256color's plab_norm, …) to
 * the console and carries on without it; on the user's terminal that is only noise left behind
 * the dashboard.
 */
function quietly<T>(make: () => T): T {
  const consoleError = console.error;
  console.error = () => undefined;
  try {
    return make();
  } finally {
    console.error = consoleError;
  }
}
