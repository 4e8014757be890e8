import { SETTLED_IN_GRANT, type TaskAssigned } from '../protocol/messages.js';
import type { Outbound } from './decisions.js';
import type { TaskEvent } from './task-record.js';

/** What a result or release is: the ledger's words for it (PROTOCOL §4.6). */
export type ResultKind = 'complete' | 'failed' | 'release';

/**
 * Confirmations in one message at most: 500 refs of the longest task ids fit well under the
 * default 256 KiB message limit (PROTOCOL §1.4), and the schema's 10,000.
 */
export const SETTLED_PER_MESSAGE = 500;

/** Results judged lately, remembered so that a resend in the same turn is known (not stale). */
const JUDGED_MEMORY = 10_000;

/** The ledger events that mean a result of this kind was applied (ledger.ts, scheduler.ts). */
const APPLIED_AS: Record<ResultKind, readonly string[]> = {
  complete: ['complete'],
  failed: ['failed'],
  release: ['released', 'refused'],
};

interface Ref {
  task_id: string;
  attempt: number;
}

/**
 * The hub's confirmations of results (PROTOCOL §4.8): every outcome or release it has judged —
 * applied, recorded stale, or refused — is listed once on `tasks/settled/<agent>`, one message
 * per agent per turn, sent after the turn's transaction commits (like every message of the
 * turn), so an agent stops resending only what the ledger holds. It also tells a resend of a
 * result already judged from a new one, so resends add nothing to the ledger nor to errors.
 */
export class Settlements {
  /** This turn's: agent → its role and the attempts to confirm. */
  private turn = new Map<string, { role: string | undefined; refs: Map<string, Ref> }>();
  /** `kind task#attempt@agent` of results judged lately (insertion order = age). */
  private readonly judged = new Set<string>();

  /** Confirm this result of `agentId` once the turn is recorded. */
  settle(agentId: string, role: string | undefined, ref: Ref): void {
    let entry = this.turn.get(agentId);
    if (!entry) {
      entry = { role, refs: new Map() };
      this.turn.set(agentId, entry);
    }
    entry.refs.set(`${ref.task_id}#${ref.attempt}`, { task_id: ref.task_id, attempt: ref.attempt });
  }

  /** The result was applied or recorded stale now: a later copy of it is a resend. */
  judge(kind: ResultKind, agentId: string, ref: Ref): void {
    const key = judgedKey(kind, agentId, ref);
    this.judged.delete(key);
    this.judged.add(key);
    if (this.judged.size > JUDGED_MEMORY) this.judged.delete(this.judged.values().next().value!);
  }

  /**
   * Whether this result (not the live attempt's) was judged before: applied, or recorded stale
   * once already. `history` is the task's ledger history, read only when memory does not say
   * (after a restart of the hub).
   */
  judgedBefore(kind: ResultKind, agentId: string, ref: Ref, history: () => TaskEvent[]): boolean {
    if (this.judged.has(judgedKey(kind, agentId, ref))) return true;
    const applied = APPLIED_AS[kind];
    return history().some(
      (event) =>
        event.agentId === agentId &&
        event.attempt === ref.attempt &&
        (applied.includes(event.kind) ||
          (event.kind === 'stale' &&
            (event.detail as { ignored?: unknown } | null)?.ignored === kind)),
    );
  }

  /**
   * The turn's confirmations; the next turn starts empty. An agent that reads them in a grant
   * (`inGrant`) and is granted a task this turn — one of `turnMessages` — gets up to
   * `SETTLED_IN_GRANT` of them in its first grant, so a busy agent's result costs no message of
   * its own; the rest go as one `tasks/settled/<agent>` per agent (more only past
   * `SETTLED_PER_MESSAGE`), returned.
   */
  take(
    turnMessages: readonly Outbound[] = [],
    inGrant: (agentId: string) => boolean = () => false,
  ): Outbound[] {
    const turn = this.turn;
    this.turn = new Map();
    const messages: Outbound[] = [];
    // Each agent's first grant of the turn, found in one pass (not one search per agent).
    const grants = new Map<string, Outbound>();
    if (turn.size > 0) {
      for (const message of turnMessages) {
        const agent = message.key === 'tasksAssigned' ? message.params?.['agent'] : undefined;
        if (agent !== undefined && !grants.has(agent)) grants.set(agent, message);
      }
    }
    for (const [agentId, { role, refs }] of turn) {
      const all = [...refs.values()];
      if (all.length <= SETTLED_IN_GRANT && inGrant(agentId)) {
        const grant = grants.get(agentId);
        if (grant) {
          const payload = grant.payload;
          grant.payload = () => ({ ...(payload() as TaskAssigned), settled: all });
          continue;
        }
      }
      for (let at = 0; at < all.length; at += SETTLED_PER_MESSAGE) {
        const results = all.slice(at, at + SETTLED_PER_MESSAGE);
        messages.push({
          key: 'tasksSettled',
          params: { agent: agentId },
          recipient: { name: agentId, ...(role ? { role } : {}) },
          payload: () => ({ results }),
        });
      }
    }
    return messages;
  }
}

function judgedKey(kind: ResultKind, agentId: string, ref: Ref): string {
  return `${kind} ${ref.task_id}#${ref.attempt}@${agentId}`;
}
