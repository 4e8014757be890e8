import { randomUUID } from 'node:crypto';
import type { IClientOptions, MqttClient } from 'mqtt';
import { z } from 'zod';
import type { Admitted, EnvelopeSecurity } from '../auth/envelope-security.js';
import type { Recipient } from '../auth/keyring.js';
import { identityFromEnvelope, matchTopic, type Identity } from '../protocol/access.js';
import {
  DEFAULT_MAX_JSON_DEPTH,
  decodeMessage,
  decodePayload,
  encodeMessage,
  type Decoded,
  type ProtocolErrorCode,
  type Sender,
} from '../protocol/codec.js';
import type { ErrorReport } from '../protocol/messages.js';
import { buildTopic, localTopic, TOPIC } from '../protocol/topics.js';
import { EXIT, SheriError } from '../errors.js';
import { withTimeout } from '../util/with-timeout.js';
import { connectMqtt } from './mqtt-connect.js';
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
  /**
   * Published by the broker when this client dies without saying goodbye (local topic): a raw
   * payload (`''` clears a retained message), or an envelope's payload, encoded and signed here.
   */
  will?: { topic: string; retain: boolean } & ({ payload: string } | { envelope: unknown });
  username?: string;
  password?: string;
  reconnectPeriodMs?: number;
  /** Signing and checking (PROTOCOL §15.4); none: unsigned, and every sender taken at its word. */
  security?: EnvelopeSecurity;
  /** mqtts:// material: CA to trust, client certificate and key (PEM). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  maxJsonDepth?: number;
  /** false (CLI readers): a message that does not decode is dropped without a report. */
  report?: boolean;
  /**
   * Acknowledge received QoS 1 messages only when `releaseAcks()` says so — once what they
   * changed is recorded (the hub, PROTOCOL §3.8). Until then the broker keeps them for this
   * session, and sends them again if this client dies.
   */
  holdAcks?: boolean;
}

/** A decoded message with who sent it (verified, or what its envelope says: `verified` false). */
export type Received<T> = Decoded<T> & { sender: Identity; verified: boolean };

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
 * The envelope is decoded first and its payload after the sender is admitted: one schema for
 * "any payload", built once — building a zod schema costs more than checking a small message.
 */
const ANY_PAYLOAD = z.unknown();

/**
 * The swarm's view of an MQTT connection: local topic names (without `<swarm>/`), enveloped JSON,
 * reports of rejected messages on `<swarm>/errors`, and a plain word when no broker answers.
 */
export class Bus {
  private readonly handlers: MessageHandler[] = [];
  /**
   * Who sent each message being handled: several handlers may decode one message (the CLI's
   * do), and its freshness check must count it once, not as a replay of itself.
   */
  private readonly admitted = new WeakMap<Buffer, Admitted>();
  private lastNoticeAt = 0;
  /** ready() calls waiting: they report a refused login themselves (noticeUnreachable). */
  private readyWaiters = 0;
  /** Whoever awaits `loginRefused()`: told of a login refused once connected, instead of a log. */
  private refusal:
    { promise: Promise<SheriError>; resolve: (error: SheriError) => void } | undefined;
  /** PUBACKs waiting for `releaseAcks()` (holdAcks). */
  private heldAcks: object[] = [];
  /** PUBACKs held since the start (released, waiting or dropped with a connection): marks. */
  private ackCount = 0;
  private sendAck: ((packet: object) => void) | undefined;
  /** The message being handled is not to be acknowledged at all (see `withholdAck`). */
  private withholding = false;
  /** The socket corked for this turn of the event loop (`corkTurn`), until `flush()`. */
  private corked: { uncork(): void } | undefined;

  private constructor(
    readonly client: MqttClient,
    private readonly options: BusOptions,
  ) {
    if (options.holdAcks) this.holdAcks();
    client.on('message', (topic, bytes) => {
      const local = localTopic(options.swarm, topic);
      if (local === undefined) return;
      this.withholding = false;
      for (const handler of this.handlers) handler(local, bytes);
    });
    // Emitted by mqtt.js before it writes each packet: the first of a turn corks the socket.
    client.on('packetsend', () => this.corkTurn());
    client.on('error', (error) => this.noticeUnreachable(error));
    client.on('offline', () => this.noticeUnreachable());
    client.on('connect', () => {
      // Small MQTT packets must not wait for Nagle and delayed ACKs (~40 ms a hop on Linux).
      (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      if (this.lastNoticeAt) options.logger.info({ broker: options.url }, 'connected to broker');
      this.lastNoticeAt = 0;
    });
  }

  /**
   * mqtt.js sends a PUBACK as soon as its message handlers return, and offers no public way to
   * send it later without also stalling every message after it. Its one sending method is
   * wrapped: PUBACKs wait in a list (the next message is read meanwhile) until `releaseAcks()`.
   * A lost connection drops the list: the broker resends those messages, marked duplicate.
   */
  private holdAcks(): void {
    const client = this.client as unknown as {
      _sendPacket: (packet: { cmd?: string }, cb?: () => void, ...rest: unknown[]) => void;
    };
    const send = client._sendPacket.bind(client);
    this.sendAck = (packet) => send(packet);
    client._sendPacket = (packet, cb, ...rest) => {
      if (packet.cmd !== 'puback') return send(packet, cb, ...rest);
      // mqtt.js sends a message's PUBACK as soon as its handlers return, in the same call.
      if (!this.withholding) {
        this.heldAcks.push(packet);
        this.ackCount++;
      }
      this.withholding = false;
      cb?.();
    };
    this.client.on('close', () => {
      this.heldAcks = [];
    });
  }

  /**
   * mqtt.js writes each packet as several chunks and uncorks after each synchronous burst
   * (mqtt-packet), so packets sent a few ticks apart in one turn — a PUBACK, then the outcome its
   * message led to — went out in separate writes: a system call and a wake-up of the broker each.
   * Corked from the first packet of a turn to its end (`setImmediate`, or `flush()`), they go in
   * one write, in the order they were sent. Nothing waits past the turn.
   */
  private corkTurn(): void {
    if (this.corked) return;
    const stream = this.client.stream as { cork?: () => void; uncork?: () => void } | undefined;
    if (!stream?.cork || !stream.uncork) return;
    stream.cork();
    this.corked = { uncork: () => stream.uncork!() };
    setImmediate(() => this.flush());
  }

  /** Write what this turn has sent so far, now (the hub, at the end of its turn). */
  flush(): void {
    const corked = this.corked;
    this.corked = undefined;
    corked?.uncork();
  }

  /** A mark of the messages received so far, for `releaseAcks(mark)` (holdAcks). */
  ackMark(): number {
    return this.ackCount;
  }

  /**
   * Acknowledge the messages received up to `mark` (default: all so far), not those received
   * since — they are not recorded yet (holdAcks). Held acks a lost connection dropped are gone:
   * the broker sends those messages again.
   */
  releaseAcks(mark = this.ackCount): void {
    if (this.heldAcks.length === 0 || !this.sendAck) return;
    const count = Math.min(this.heldAcks.length, this.heldAcks.length - (this.ackCount - mark));
    if (count <= 0) return;
    const held = this.heldAcks.splice(0, count);
    for (const packet of held) this.sendAck(packet);
  }

  /**
   * Called by a handler (holdAcks): the message it handles now is never acknowledged on this
   * connection — the broker sends it again after the next reconnect (`redeliver`).
   */
  withholdAck(): void {
    this.withholding = true;
  }

  /**
   * Drop the connection once what is written has gone (the acknowledgements just released),
   * so that mqtt.js reconnects and the broker resends every message still unacknowledged.
   */
  redeliver(): void {
    (this.client.stream as { end?: () => void }).end?.();
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
      // mqtt-packet's default pre-builds a 2-byte Buffer for each of the 65,536 message ids on the
      // first write: 6 MB of heap and ~20 ms per process, for a saving of one tiny allocation per
      // packet (issue 10: it was a quarter of an idle agent's heap). Global to mqtt-packet.
      writeCache: false,
      ...(options.username ? { username: options.username, password: options.password } : {}),
      ...(options.tls ?? {}),
      ...(options.will ? { will: Bus.willOf(options, options.will) } : {}),
    };
    return new Bus(connectMqtt(options.url, clientOptions), options);
  }

  private static willOf(
    options: BusOptions,
    will: NonNullable<BusOptions['will']>,
  ): NonNullable<IClientOptions['will']> {
    const topic = buildTopic(options.swarm, will.topic);
    const payload =
      'payload' in will
        ? will.payload
        : Bus.seal(options, will.topic, encodeMessage(options.sender, will.envelope));
    return { topic, payload: Buffer.from(payload), qos: 1, retain: will.retain };
  }

  private static seal(options: BusOptions, local: string, body: string, to?: Recipient): string {
    if (!options.security) return body;
    const full = buildTopic(options.swarm, local);
    return options.security.seal(full, matchTopic(local)?.spec, body, to);
  }

  /**
   * Resolve at the first CONNACK, retrying meanwhile; `signal` abandons the wait (the CLI's
   * deadline), `failFast` gives up at the first refused connection. While no broker answers, says
   * so plainly every 30 s. A broker that refuses the login (CONNACK 4 or 5) fails it at once, with
   * a SheriError (exit 3): mqtt.js does not try again after one, so waiting would wait for ever —
   * and, with nothing else left to run, end the process with Node's exit 13 and no word.
   */
  async ready(signal?: AbortSignal, failFast = false): Promise<void> {
    const { client } = this;
    if (client.connected) return;
    this.readyWaiters++;
    try {
      await new Promise<void>((resolve, reject) => {
        const settle = (error?: unknown): void => {
          signal?.removeEventListener('abort', onAbort);
          client.off('connect', onConnect);
          client.off('close', onClose);
          client.off('error', onError);
          if (error === undefined) resolve();
          else reject(error);
        };
        const onAbort = (): void => {
          client.end(true);
          settle(signal?.reason ?? new Error('aborted'));
        };
        const onClose = (): void => {
          if (failFast) onAbort();
        };
        const onConnect = (): void => settle();
        const onError = (error: Error): void => {
          if (!isRefusedLogin(error)) return;
          client.end(true);
          settle(new SheriError(refusedLoginText(this.options.url, error), EXIT.unavailable));
        };
        client.once('connect', onConnect);
        client.on('close', onClose);
        client.on('error', onError);
        if (signal?.aborted) onAbort();
        else signal?.addEventListener('abort', onAbort, { once: true });
      });
    } finally {
      this.readyWaiters--;
    }
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /**
   * Settles if the broker refuses our login after we had been connected: the credential was
   * revoked or rotated while we ran (the embedded broker then drops the connection, and the
   * reconnection is refused). mqtt.js does not try again after a CONNACK 4 or 5, so a process
   * that goes on would stay disconnected for ever: a long-running command awaits this and ends
   * with the error (exit 3). Nobody awaiting it, the refusal is logged once instead.
   */
  loginRefused(): Promise<SheriError> {
    if (!this.refusal) {
      let resolve: (error: SheriError) => void = () => undefined;
      const promise = new Promise<SheriError>((settle) => (resolve = settle));
      this.refusal = { promise, resolve };
    }
    return this.refusal.promise;
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
    options: {
      qos?: QoS;
      retain?: boolean;
      type?: string;
      recipient?: Recipient;
      id?: string;
    } = {},
  ): Promise<string> {
    const id = options.id ?? randomUUID();
    const body = encodeMessage(this.options.sender, payload, { type: options.type, id });
    await this.publishRaw(topic, Bus.seal(this.options, topic, body, options.recipient), options);
    return id;
  }

  get security(): EnvelopeSecurity | undefined {
    return this.options.security;
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
   * Decode a message: size, signature (PROTOCOL §15.4), depth, JSON, envelope, payload schema,
   * freshness, and whether its sender may publish there (§15.3). A bad one is reported on
   * `<swarm>/errors` with the reason and topic (unless this bus does not report), and undefined
   * is returned so the caller just moves on.
   */
  decode<S extends z.ZodType>(
    topic: string,
    bytes: Buffer,
    schema: S,
    options: { report?: boolean; maxBytes?: number } = {},
  ): Received<z.output<S>> | undefined {
    const { security } = this.options;
    const maxPayloadBytes = options.maxBytes ?? this.options.maxPayloadBytes;
    const full = buildTopic(this.options.swarm, topic);
    const refuse = (code: ProtocolErrorCode, reason: string, messageId?: string): undefined => {
      this.refused(topic, bytes, code, reason, messageId, options.report);
      return undefined;
    };
    if (bytes.length > maxPayloadBytes) {
      return refuse(
        'TOO_LARGE',
        `message is ${bytes.length} bytes, over the limit of ${maxPayloadBytes} bytes`,
      );
    }
    const opened = security ? security.open(full, bytes) : { ok: true as const, body: bytes };
    if (!opened.ok) return refuse(opened.code, opened.reason, messageIdIn(bytes));
    const depth = this.options.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH;
    const parsed = decodeMessage(opened.body, ANY_PAYLOAD, maxPayloadBytes, depth);
    if (!parsed.ok) return refuse(parsed.code, parsed.reason, parsed.messageId);
    const { envelope } = parsed;
    let sender: Identity;
    let verified = false;
    if (!security) {
      sender = identityFromEnvelope(envelope.agent_id, envelope.role);
    } else {
      // Who sent it, and may they, before what they sent is looked at (PROTOCOL §15.6).
      const admitted =
        this.admitted.get(bytes) ?? security.admit(topic, matchTopic(topic), envelope, opened);
      if (!admitted.ok) return refuse(admitted.code, admitted.reason, envelope.id);
      this.admitted.set(bytes, admitted);
      ({ sender, verified } = admitted);
    }
    const result = decodePayload(envelope, schema);
    if (!result.ok) return refuse(result.code, result.reason, result.messageId);
    return { ...result, sender, verified };
  }

  private refused(
    topic: string,
    bytes: Buffer,
    code: ProtocolErrorCode,
    reason: string,
    messageId: string | undefined,
    report = this.options.report,
  ): void {
    if (report === false) {
      this.options.logger.debug({ code, topic }, `ignored message: ${reason}`);
      return;
    }
    this.reportError({
      code,
      reason,
      topic: buildTopic(this.options.swarm, topic),
      ...(messageId ? { message_id: messageId } : {}),
      sample: bytes.subarray(0, 200).toString('utf8'),
      size: bytes.length,
    });
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
    // What this turn already sent goes first, as it did before sends were corked for the turn.
    this.flush();
    // mqtt.js's end(true) does nothing while a graceful end() still waits for acknowledgements
    // (close() gave up on one): the socket is dropped here then, or it stays open, and so does
    // the process (a CLI that had said its last word).
    if (this.client.disconnecting) (this.client.stream as { destroy?: () => void })?.destroy?.();
    await this.client.endAsync(true);
  }

  private noticeUnreachable(error?: Error): void {
    if (error && isRefusedLogin(error)) {
      // Retrying will not help: say so once, plainly — unless ready() is failing with it.
      if (this.lastNoticeAt === -1 || this.readyWaiters > 0) return;
      this.lastNoticeAt = -1;
      const text = refusedLoginText(this.options.url, error);
      if (this.refusal) this.refusal.resolve(new SheriError(text, EXIT.unavailable));
      else this.options.logger.error(text);
      return;
    }
    const now = Date.now();
    if (this.client.connected || now - this.lastNoticeAt < NOTICE_EVERY_MS) return;
    this.lastNoticeAt = now;
    const detail = error ? ` (${error.message})` : '';
    this.options.logger.warn(
      `no MQTT broker at ${this.options.url}${detail} — start one with \`sheri up\` or point --broker at yours; retrying`,
    );
  }
}

export { MAX_REPLY_BYTES } from '../protocol/limits.js';

/** The envelope id of a message whose body could not be opened, for the report. */
function messageIdIn(bytes: Buffer): string | undefined {
  const match = /"id"\s*:\s*"([^"\\]{1,200})"/.exec(bytes.subarray(0, 400).toString('utf8'));
  return match?.[1];
}

function refusedLoginText(url: string, error: Error): string {
  return `the broker at ${url} refused our login (${error.message}): check --credentials, or the broker's credential store (sheri credentials list)`;
}

/** CONNACK 4 (bad user name or password) or 5 (not authorized). */
export function isRefusedLogin(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 4 || code === 5;
}
