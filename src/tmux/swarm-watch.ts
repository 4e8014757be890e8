import { z } from 'zod';
import { connectCli, shortId } from '../cli/common.js';
import type { Config } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import { HubStatus } from '../protocol/messages.js';
import { TOPIC } from '../protocol/topics.js';
import type { Bus } from '../transport/bus.js';

/**
 * What the launcher needs to hear on the bus: which agents have announced themselves
 * (`agents/register`, or a heartbeat should the register be missed) and whether a hub is online
 * (`hub/status`, retained). Subscribed before any pane starts, so no announcement is missed.
 */
export class SwarmWatch {
  /** Agent id → when it was first heard (ms since the epoch). */
  readonly agents = new Map<string, number>();
  hubOnline = false;
  private changed: (() => void)[] = [];

  private constructor(private readonly bus: Bus) {}

  static async start(config: Config, logger: Logger): Promise<SwarmWatch> {
    const bus = await connectCli(config, logger, 5_000, 'reader');
    const watch = new SwarmWatch(bus);
    bus.onMessage((topic, bytes) => watch.hear(topic, bytes));
    await bus.subscribe({
      [TOPIC.agentsRegister]: 1,
      [TOPIC.agentsHeartbeat]: 0,
      [TOPIC.hubStatus]: 1,
    });
    return watch;
  }

  private hear(topic: string, bytes: Buffer): void {
    if (topic === TOPIC.hubStatus) {
      const status = this.bus.decode(topic, bytes, HubStatus);
      if (status) this.hubOnline = status.payload.state === 'online';
    } else {
      // Presence only needs the envelope's sender; the payload is the agents' business.
      const message = this.bus.decode(topic, bytes, z.unknown());
      if (!message || this.agents.has(message.envelope.agent_id)) return;
      this.agents.set(message.envelope.agent_id, Date.now());
    }
    for (const wake of this.changed.splice(0)) wake();
  }

  missing(agentIds: readonly string[]): string[] {
    return agentIds.filter((id) => !this.agents.has(id));
  }

  /** Resolve true once every id was heard, or false after `waitMs` (the caller looks around). */
  async heardAll(agentIds: readonly string[], waitMs: number): Promise<boolean> {
    const deadline = Date.now() + waitMs;
    while (this.missing(agentIds).length > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.changed.push(wake);
      });
    }
    return true;
  }

  async close(): Promise<void> {
    for (const wake of this.changed.splice(0)) wake();
    await this.bus.close();
  }
}

/** Whether an MQTT broker accepts a connection at `url` within `timeoutMs`. */
export async function brokerAnswers(url: string, timeoutMs: number): Promise<boolean> {
  // mqtt.js loads when a probe runs, not with every command (--help).
  const { connectMqtt } = await import('../transport/mqtt-connect.js');
  const client = connectMqtt(url, {
    clientId: `sheri-probe-${shortId()}`,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
  });
  const answered = await new Promise<boolean>((resolve) => {
    client.once('connect', () => resolve(true));
    client.once('error', () => resolve(false));
    client.once('close', () => resolve(false));
  });
  await client.endAsync(true);
  return answered;
}
