import { randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { z } from 'zod';
import {
  decodeMessage,
  encodeMessage,
  type DecodeResult,
  type ProtocolErrorCode,
  type Sender,
} from '../protocol/codec.js';
import type { ErrorReport } from '../protocol/messages.js';
import { buildTopic, localTopic, TOPIC } from '../protocol/topics.js';
import { withTimeout } from '../util/with-timeout.js';
import type { Logger } from '../logging/logger.js';

export interface BusOptions {
  url: string;
  swarm: string;
  sender: Sender;
  clientId: string;
  logger: Logger;
  maxPayloadBytes: number;
  /** false: a persistent session, so the broker queues QoS 1 messages while we are away. */
  clean?: boolean;
  /** Published by the broker when this client dies without saying goodbye (local topic). */
  will?: { topic: string; payload: string; retain: boolean };
  username?: string;
  password?: string;
  reconnectPeriodMs?: number;
}

export type QoS = 0 | 1 | 2;

/** An error report before the reporter is filled in. */
export interface ErrorFields {
  code: ProtocolErrorCode;
  reason: string;
  topic: string;
  message_id?: string;
  sample?: string;
  size?: number;
  [key: string]: unknown;
}

export type MessageHandler = (topic: string, bytes: Buffer) => void;

/** Topics under the swarm with their subscription QoS. */
export type Subscriptions = Record<string, QoS>;

const NOTICE_EVERY_MS = 30_000;

/**
 * The swarm's view of an MQTT connection: local topic names (without `<swarm>/`), enveloped JSON,
 * reports of rejected messages on `<swarm>/errors`, and a plain word when no broker answers.
 */
export class Bus {
  private readonly handlers: MessageHandler[] = [];
  private lastNoticeAt = 0;

  private constructor(
    readonly client: MqttClient,
    private readonly options: BusOptions,
  ) {
    client.on('message', (topic, bytes) => {
      const local = localTopic(options.swarm, topic);
      if (local === undefined) return;
      for (const handler of this.handlers) handler(local, bytes);
    });
    client.on('error', (error) => this.noticeUnreachable(error));
    client.on('offline', () => this.noticeUnreachable());
    client.on('connect', () => {
      // Small MQTT packets must not wait for Nagle and delayed ACKs (~40 ms a hop on Linux).
      (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      if (this.lastNoticeAt) options.logger.info({ broker: options.url }, 'connected to broker');
      this.lastNoticeAt = 0;
    });
  }

  /** Connect, resolving at the first CONNACK (see `open` and `ready`). */
  static async connect(options: BusOptions, signal?: AbortSignal, failFast = false): Promise<Bus> {
    const bus = Bus.open(options);
    await bus.ready(signal, failFast);
    return bus;
  }

  /**
   * Start connecting and return at once, so a service can wire its handlers before a persistent
   * session's queued messages can arrive; then await `ready()`.
   */
  static open(options: BusOptions): Bus {
    const clientOptions: IClientOptions = {
      clientId: options.clientId,
      clean: options.clean ?? true,
      protocolVersion: 4, // MQTT 3.1.1: nothing may depend on MQTT 5 (SPEC §2)
      reconnectPeriod: options.reconnectPeriodMs ?? 1_000,
      connectTimeout: 10_000,
      keepalive: 15,
      ...(options.username ? { username: options.username, password: options.password } : {}),
      ...(options.will
        ? {
            will: {
              topic: buildTopic(options.swarm, options.will.topic),
              payload: Buffer.from(options.will.payload),
              qos: 1,
              retain: options.will.retain,
            },
          }
        : {}),
    };
    return new Bus(mqtt.connect(options.url, clientOptions), options);
  }

  /**
   * Resolve at the first CONNACK, retrying meanwhile; `signal` abandons the wait (the CLI's
   * deadline), `failFast` gives up at the first refused connection. While no broker answers, says
   * so plainly every 30 s.
   */
  async ready(signal?: AbortSignal, failFast = false): Promise<void> {
    const { client } = this;
    if (client.connected) return;
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        client.off('connect', onConnect);
        client.off('close', onClose);
        client.end(true);
        reject(signal?.reason ?? new Error('aborted'));
      };
      const onClose = (): void => {
        if (failFast) onAbort();
      };
      const onConnect = (): void => {
        signal?.removeEventListener('abort', onAbort);
        client.off('close', onClose);
        resolve();
      };
      client.once('connect', onConnect);
      client.on('close', onClose);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  get connected(): boolean {
    return this.client.connected;
  }

  onMessage(handler: MessageHandler): void {
    this.handlers.push(handler);
  }

  async subscribe(subscriptions: Subscriptions): Promise<void> {
    const full: Record<string, { qos: QoS }> = {};
    for (const [topic, qos] of Object.entries(subscriptions)) {
      full[buildTopic(this.options.swarm, topic)] = { qos };
    }
    await this.client.subscribeAsync(full);
  }

  async unsubscribe(topics: string[]): Promise<void> {
    await this.client.unsubscribeAsync(
      topics.map((topic) => buildTopic(this.options.swarm, topic)),
    );
  }

  /**
   * Publish an enveloped message on a local topic. Resolves, with the envelope's id, when QoS 1
   * is acknowledged.
   */
  async publish(
    topic: string,
    payload: unknown,
    /** `id`: the envelope's id, when the caller must know it before the message goes out. */
    options: { qos?: QoS; retain?: boolean; type?: string; id?: string } = {},
  ): Promise<string> {
    const id = options.id ?? randomUUID();
    const body = encodeMessage(this.options.sender, payload, { type: options.type, id });
    await this.publishRaw(topic, body, options);
    return id;
  }

  async publishRaw(
    topic: string,
    body: string | Buffer,
    options: { qos?: QoS; retain?: boolean } = {},
  ): Promise<void> {
    await this.client.publishAsync(buildTopic(this.options.swarm, topic), body, {
      qos: options.qos ?? 1,
      retain: options.retain ?? false,
    });
  }

  /**
   * Decode a message; a bad one is reported on `<swarm>/errors` with the reason and topic, and
   * undefined is returned so the caller just moves on.
   */
  decode<S extends z.ZodType>(
    topic: string,
    bytes: Buffer,
    schema: S,
  ): (DecodeResult<z.output<S>> & { ok: true }) | undefined {
    const result = decodeMessage(bytes, schema, this.options.maxPayloadBytes);
    if (result.ok) return result;
    this.reportError({
      code: result.code,
      reason: result.reason,
      topic: buildTopic(this.options.swarm, topic),
      ...(result.messageId ? { message_id: result.messageId } : {}),
      sample: bytes.subarray(0, 200).toString('utf8'),
      size: bytes.length,
    });
    return undefined;
  }

  /** Publish on `<swarm>/errors`; never throws (a report that cannot be sent is logged). */
  reportError(report: ErrorFields): void {
    const full: ErrorReport = { ...report, reporter: this.options.sender.agentId };
    this.options.logger.warn(
      { code: full.code, topic: full.topic, messageId: full.message_id },
      `rejected message: ${full.reason}`,
    );
    this.publish(TOPIC.errors, full, { qos: 1, type: 'error' }).catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'could not publish an error report');
    });
  }

  /** Disconnect cleanly; if the broker does not answer within `graceMs`, just drop the socket. */
  async close(graceMs = 2_000): Promise<void> {
    if (!this.client.connected || !(await withTimeout(this.client.endAsync(), graceMs))) {
      await this.destroy();
    }
  }

  /** Drop the connection without DISCONNECT, so the broker publishes the Last Will (tests, chaos). */
  async destroy(): Promise<void> {
    await this.client.endAsync(true);
  }

  private noticeUnreachable(error?: Error): void {
    const now = Date.now();
    if (this.client.connected || now - this.lastNoticeAt < NOTICE_EVERY_MS) return;
    this.lastNoticeAt = now;
    const detail = error ? ` (${error.message})` : '';
    this.options.logger.warn(
      `no MQTT broker at ${this.options.url}${detail} — start one with \`sheri up\` or point --broker at yours; retrying`,
    );
  }
}
