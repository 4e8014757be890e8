import { TOPICS } from '../protocol/topic-table.js';
import { MAX_REPLY_BYTES, type Bus } from '../transport/bus.js';

/** The domain topics the demo's flow publishes on (PROTOCOL §17.6). */
export const DEMO_EVENTS = [
  TOPICS.deploymentStatus,
  TOPICS.testsResults,
  TOPICS.securityScan,
  TOPICS.deploymentComplete,
  TOPICS.monitoringHealth,
  TOPICS.monitoringAlerts,
] as const;

/**
 * The domain events `sheri demo` saw on the bus, as an operator reading them: how many on each
 * topic, and the last of each, for the summary line.
 */
export class EventTally {
  private readonly seen = new Map<string, { count: number; last: Record<string, unknown> }>();

  private constructor(private readonly bus: Bus) {}

  static async start(bus: Bus): Promise<EventTally> {
    const tally = new EventTally(bus);
    bus.onMessage((topic, bytes) => tally.handle(topic, bytes));
    await bus.subscribe(Object.fromEntries(DEMO_EVENTS.map((spec) => [spec.pattern, 1 as const])));
    return tally;
  }

  private handle(topic: string, bytes: Buffer): void {
    const spec = DEMO_EVENTS.find((candidate) => candidate.pattern === topic);
    if (!spec) return;
    const message = this.bus.decode(topic, bytes, spec.schema, { maxBytes: MAX_REPLY_BYTES });
    if (!message) return;
    const entry = this.seen.get(topic) ?? { count: 0, last: {} };
    entry.count += 1;
    entry.last = message.payload as Record<string, unknown>;
    this.seen.set(topic, entry);
  }

  counts(): Record<string, number> {
    return Object.fromEntries([...this.seen].map(([topic, { count }]) => [topic, count]));
  }

  /** "deployment/status ×6, tests/results ×1 (6 passed, 0 failed, 100 % lines), …" */
  describe(): string {
    return [...this.seen]
      .map(([topic, { count, last }]) => {
        const about = detailOf(topic, last);
        return `${topic} ×${count}${about ? ` (${about})` : ''}`;
      })
      .join(', ');
  }
}

function detailOf(topic: string, event: Record<string, unknown>): string | undefined {
  switch (topic) {
    case 'tests/results': {
      const coverage =
        typeof event.coverage_pct === 'number' ? `, ${event.coverage_pct} % of lines covered` : '';
      return `${String(event.passed)} passed, ${String(event.failed)} failed${coverage}`;
    }
    case 'security/scan': {
      const counts = event.vulnerabilities as { total?: number } | undefined;
      return `${counts?.total ?? '?'} vulnerabilities`;
    }
    case 'deployment/complete':
      return String(event.url);
    case 'monitoring/alerts':
      return String(event.message).slice(0, 80);
    default:
      return undefined;
  }
}
