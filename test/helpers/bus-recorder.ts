import mqtt, { type MqttClient } from 'mqtt';
import { matchTopic } from '../../src/protocol/access.js';

export interface Recorded {
  topic: string;
  /** Topic without the `<swarm>/` prefix. */
  local: string;
  raw: Buffer;
  json: unknown;
  /** The envelope's payload, when the message is an envelope. */
  payload: Record<string, unknown>;
  retained: boolean;
}

/** A plain MQTT client that records everything under `<swarm>/#`, for assertions. */
export class BusRecorder {
  readonly messages: Recorded[] = [];
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  private constructor(
    readonly client: MqttClient,
    private readonly swarm: string,
  ) {
    client.on('message', (topic, raw, packet) => {
      let json: unknown;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        json = undefined;
      }
      const payload = (json as { payload?: Record<string, unknown> } | undefined)?.payload ?? {};
      this.messages.push({
        topic,
        local: topic.slice(swarm.length + 1),
        raw,
        json,
        payload: typeof payload === 'object' && payload !== null ? payload : {},
        retained: packet.retain,
      });
      this.waiters = this.waiters.filter((waiter) => {
        if (!waiter.check()) return true;
        waiter.resolve();
        return false;
      });
    });
  }

  /** Anonymous unless given a login (anonymous readers of the embedded broker get redacted copies). */
  static async start(
    url: string,
    swarm: string,
    filter = '#',
    login?: { username: string; password: string },
  ): Promise<BusRecorder> {
    const client = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      reconnectPeriod: 200,
      ...(login ?? {}),
      clientId: `sheri-cli-recorder-${Math.random().toString(36).slice(2, 10)}`,
    });
    const recorder = new BusRecorder(client, swarm);
    await client.subscribeAsync(`${swarm}/${filter}`, { qos: 1 });
    return recorder;
  }

  /** Messages on `local`; `tasks/assigned` also means every `tasks/assigned/<agent>`. */
  on(local: string): Recorded[] {
    return this.messages.filter(
      (message) =>
        message.local === local || matchTopic(message.local)?.spec.pattern === `${local}/{agent}`,
    );
  }

  /** Distinct values of `payload[field]` among messages on `local`. */
  distinct(local: string, field = 'task_id'): Set<unknown> {
    return new Set(this.on(local).map((message) => message.payload[field]));
  }

  /** Resolve when `check` holds; reject after `timeoutMs` with `describe()` in the message. */
  waitFor(
    check: () => boolean,
    timeoutMs: number,
    describe: () => string = () => '',
  ): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter.resolve !== done);
        reject(new Error(`timed out after ${timeoutMs} ms waiting on the bus ${describe()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push({ check, resolve: done });
    });
  }

  async publish(
    local: string,
    body: string | Buffer,
    options: { retain?: boolean } = {},
  ): Promise<void> {
    await this.client.publishAsync(`${this.swarm}/${local}`, body, { qos: 1, ...options });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
