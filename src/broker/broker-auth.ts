import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { Aedes, AedesOptions, Client } from 'aedes';
import type { CredentialStore } from '../auth/credential-store.js';
import { mqttPasswordOf, refOfPassword, type IdentityRef } from '../auth/identity-keys.js';
import type { Logger } from '../logging/logger.js';
import {
  describeIdentity,
  matchTopic,
  publishRefusal,
  redactForAnonymous,
  subscribeRefusal,
  type Identity,
  type PublishClaim,
} from '../protocol/access.js';
import { checkSwarmName } from '../protocol/topics.js';
import { TOPICS } from '../protocol/topic-table.js';
import { MAX_PENDING_PER_AGENT } from '../tasks/approval-desk.js';
import { MAX_REPLY_BYTES } from '../protocol/limits.js';
import { PRE_LOGIN_PACKET_BYTES, PUBLISH_OVERHEAD_BYTES } from './packet-limits.js';

type Hooks = Required<
  Pick<
    AedesOptions,
    'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'
  >
>;

/** Who a connection is: an identity of the store, or anonymous (loopback, read-only). */
type Caller = { ref: IdentityRef; identity: Identity } | 'anonymous';

const HUB_CLIENT_PREFIX = 'sheri-hub-';

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || isLoopbackAddress(host);
}

function loginError(returnCode: 2 | 4 | 5, message: string): Error {
  return Object.assign(new Error(message), { returnCode });
}

/**
 * The embedded broker's policy (PROTOCOL §15.3), derived from the topic table through access.ts:
 * who may connect (an identity of the store, or anonymous from loopback), publish (the table's
 * publishers, with the envelope naming the sender) and subscribe; anonymous readers get redacted
 * copies. Every refused publish is reported on `<swarm>/errors`, and the connection closed.
 */
export class BrokerAuth {
  private readonly callers = new WeakMap<Client, Caller>();
  /** Per identity, the `approvals/<id>/pending` topics it holds a request on, with deadlines. */
  private readonly pendingOf = new Map<string, Map<string, number>>();
  /** Per connection (the client's socket), the longest packet its login lets it send. */
  private readonly packetLimits = new WeakMap<object, number>();
  private readonly redacted = new WeakMap<object, Buffer | null>();
  private timer: NodeJS.Timeout | undefined;
  private aedes: Aedes | undefined;

  constructor(
    private readonly store: CredentialStore,
    private readonly logger: Logger,
    /** The swarm's `maxPayloadBytes`: what a client but the hub may publish. */
    private readonly maxPayloadBytes: number,
  ) {}

  /**
   * The longest MQTT packet a connection may send once logged in (packet-limits.ts): the hub a
   * reply of MAX_REPLY_BYTES, anyone else a message of `maxPayloadBytes`, an anonymous reader
   * (who may publish nothing) a subscription. Undefined until its login is accepted.
   */
  packetLimitOf(conn: object): number | undefined {
    return this.packetLimits.get(conn);
  }

  /** Look at the store once a second; disconnect whoever was revoked or rotated out. */
  attach(aedes: Aedes): void {
    this.aedes = aedes;
    this.timer = setInterval(() => {
      if (this.store.refresh()) this.dropRevoked();
    }, 1_000);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  hooks(): Hooks {
    return {
      authenticate: (client, username, password, callback) => {
        const result = this.authenticate(client, username, password);
        if (result === true) callback(null, true);
        else callback(result as Parameters<typeof callback>[0], false);
      },
      authorizePublish: (client, packet, callback) => {
        // A stored Will of a client gone before a restart: it was checked when it connected.
        if (!client) return callback(null);
        const refusal = this.publishRefusal(
          client,
          packet.topic,
          packet.payload as Buffer,
          packet.retain,
        );
        if (!refusal) return callback(null);
        this.report(client, packet.topic, refusal);
        callback(new Error(refusal));
      },
      authorizeSubscribe: (client, subscription, callback) => {
        const refusal = this.subscribeRefusal(client, subscription.topic);
        if (!refusal) return callback(null, subscription);
        this.logger.warn({ clientId: client.id, topic: subscription.topic }, refusal);
        // SUBACK 0x80 for this filter; the connection stays.
        callback(null, null as unknown as typeof subscription);
      },
      authorizeForward: (client, packet) => {
        const caller = this.callers.get(client);
        if (caller !== 'anonymous') return packet;
        const payload = this.redactedPayload(packet);
        if (payload === null) return null as unknown as typeof packet;
        if (payload === packet.payload) return packet;
        // A copy: the packet itself goes on to the other subscribers unchanged.
        return Object.assign(Object.create(Object.getPrototypeOf(packet) as object), packet, {
          payload,
        }) as typeof packet;
      },
    };
  }

  private authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): true | Error {
    // A connection is rare enough to look at the file each time: an identity just added works.
    if (this.store.refresh(Date.now(), true)) this.dropRevoked();
    const remote = (client.conn as { remoteAddress?: string }).remoteAddress;
    const will = (client as unknown as { _will?: { topic: string; payload: Buffer } })._will;
    if (!username) {
      if (!isLoopbackAddress(remote)) {
        return loginError(5, `anonymous connections are accepted from loopback only (${remote})`);
      }
      if (will) return loginError(5, 'an anonymous client may not leave a Last Will');
      const taken = this.takenBy(client.id);
      if (client.id.startsWith(HUB_CLIENT_PREFIX) || taken) {
        return loginError(2, `client id ${client.id} is reserved or in use`);
      }
      this.callers.set(client, 'anonymous');
      this.packetLimits.set(client.conn, PRE_LOGIN_PACKET_BYTES);
      return true;
    }
    const ref = refOfPassword(username, password?.toString('utf8') ?? '');
    const refusal = ref ? this.store.refusal(ref) : `no sheri credential for ${username}`;
    if (!ref || refusal || !this.passwordMatches(ref, password!)) {
      this.logger.warn({ username, remote }, `login refused: ${refusal ?? 'wrong password'}`);
      return loginError(4, 'bad user name or password');
    }
    const identity: Identity = {
      name: ref.name,
      kind: ref.kind,
      ...(ref.role ? { role: ref.role } : {}),
    };
    const idProblem = this.clientIdProblem(identity, client.id);
    if (idProblem) {
      this.logger.warn({ username, clientId: client.id }, idProblem);
      return loginError(2, idProblem);
    }
    if (will) {
      const local = localOf(will.topic);
      const willRefusal = local
        ? publishRefusal(identity, local, claimOf(will.payload))
        : `${will.topic} is not a swarm topic`;
      if (willRefusal) return loginError(5, `Last Will refused: ${willRefusal}`);
    }
    this.callers.set(client, { ref, identity });
    this.packetLimits.set(
      client.conn,
      (identity.kind === 'hub' ? MAX_REPLY_BYTES : this.maxPayloadBytes) + PUBLISH_OVERHEAD_BYTES,
    );
    return true;
  }

  private passwordMatches(ref: IdentityRef, password: Buffer): boolean {
    const want = Buffer.from(mqttPasswordOf(ref, this.store.secretOf(ref)));
    return want.length === password.length && timingSafeEqual(want, password);
  }

  /** An agent connects as its name; only a hub as `sheri-hub-…`; no one takes another's id. */
  private clientIdProblem(identity: Identity, clientId: string): string | undefined {
    if (identity.kind === 'agent' && clientId !== identity.name) {
      return `${describeIdentity(identity)} must connect with client id "${identity.name}", not "${clientId}"`;
    }
    if ((identity.kind === 'hub') !== clientId.startsWith(HUB_CLIENT_PREFIX)) {
      return identity.kind === 'hub'
        ? `the hub connects with a client id starting ${HUB_CLIENT_PREFIX}`
        : `client ids starting ${HUB_CLIENT_PREFIX} are the hub's`;
    }
    const holder = this.takenBy(clientId);
    if (holder && (holder === 'anonymous' || holder.identity.name !== identity.name)) {
      return `client id ${clientId} is in use by another identity`;
    }
    return undefined;
  }

  private get clients(): Record<string, Client> {
    // aedes keeps its connected clients by id; its typings do not say so.
    return (
      (this.aedes as unknown as { clients?: Record<string, Client> } | undefined)?.clients ?? {}
    );
  }

  private takenBy(clientId: string): Caller | undefined {
    const existing = this.clients[clientId];
    return existing ? this.callers.get(existing) : undefined;
  }

  private publishRefusal(
    client: Client,
    topic: string,
    payload: Buffer,
    retain: boolean,
  ): string | undefined {
    const caller = this.callers.get(client);
    if (!caller || caller === 'anonymous')
      return 'anonymous clients may only read (PROTOCOL §15.3)';
    const local = localOf(topic);
    if (!local) return `${topic} is not under a swarm (<swarm>/…)`;
    const claim = claimOf(payload);
    return (
      publishRefusal(caller.identity, local, claim) ??
      (retain ? this.retainRefusal(caller.identity, topic, local, payload) : undefined)
    );
  }

  /**
   * A retained message stays in the broker's store for ever and reaches every later subscriber:
   * only on the topics the table keeps retained, and an agent's waiting approvals only as many as
   * the hub lets wait (MAX_PENDING_PER_AGENT), each under its own id. (One agent planted 200
   * retained messages of 1 MB on `code/…` and `approvals/…/pending` before this.)
   */
  private retainRefusal(
    identity: Identity,
    topic: string,
    local: string,
    payload: Buffer,
  ): string | undefined {
    const match = matchTopic(local);
    if (!match?.spec.retained) {
      return `${local} is not a retained topic (PROTOCOL §2.1): publish it without retain`;
    }
    if (match.spec.pattern !== TOPICS.approvalPending.pattern) return undefined;
    const mine = this.pendingOf.get(identity.name) ?? new Map<string, number>();
    if (payload.length === 0) {
      mine.delete(topic);
      return undefined;
    }
    const request = approvalRequestOf(payload);
    if (!request || request.id !== match.params.id) {
      return `${local} must carry the approval request of id "${match.params.id}"`;
    }
    // One past its deadline waits no more (its agent may have died before clearing it).
    const now = Date.now();
    for (const [held, deadline] of mine) if (deadline < now) mine.delete(held);
    if (!mine.has(topic) && mine.size >= MAX_PENDING_PER_AGENT) {
      return `${describeIdentity(identity)} already has ${mine.size} approval requests retained, the most one agent may wait on; clear one first`;
    }
    mine.set(topic, request.deadline);
    this.pendingOf.set(identity.name, mine);
    return undefined;
  }

  private subscribeRefusal(client: Client, filter: string): string | undefined {
    const caller = this.callers.get(client);
    if (!caller || caller === 'anonymous' || caller.identity.kind !== 'agent') return undefined;
    const local = localOf(filter);
    if (!local) return `an agent subscribes under its swarm, not to ${filter}`;
    return subscribeRefusal(caller.identity, local, client.id);
  }

  private redactedPayload(packet: { topic: string; payload: Buffer | string }): Buffer | null {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const cached = this.redacted.get(packet);
    if (cached !== undefined) return cached;
    const local = localOf(packet.topic);
    const spec = local ? matchTopic(local)?.spec : undefined;
    let result: Buffer | null;
    if (!spec?.public) result = null;
    else if (payload.length === 0) result = payload;
    else {
      let json: unknown;
      try {
        json = JSON.parse(payload.toString('utf8'));
      } catch {
        json = undefined;
      }
      result = Buffer.from(JSON.stringify(redactForAnonymous(spec, json)));
    }
    this.redacted.set(packet, result);
    return result;
  }

  /** Say on `<swarm>/errors` what was refused and why, as the hub and agents do (PROTOCOL §15.6). */
  private report(client: Client, topic: string, reason: string): void {
    const caller = this.callers.get(client);
    const who = caller && caller !== 'anonymous' ? caller.identity.name : 'anonymous';
    this.logger.warn({ clientId: client.id, identity: who, topic }, `publish refused: ${reason}`);
    const swarm = topic.split('/')[0] ?? '';
    if (checkSwarmName(swarm) || !this.aedes) return;
    const envelope = {
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      agent_id: 'broker',
      role: 'broker',
      type: 'error',
      payload: {
        code: 'NOT_AUTHORIZED',
        reason: `${reason} (connection of ${who}, client id ${client.id}, closed)`,
        topic,
        reporter: 'broker',
        identity: who,
      },
    };
    this.aedes.publish(
      {
        cmd: 'publish',
        topic: `${swarm}/errors`,
        payload: Buffer.from(JSON.stringify(envelope)),
        qos: 1,
        retain: false,
        dup: false,
      },
      () => undefined,
    );
  }

  private dropRevoked(): void {
    for (const client of Object.values(this.clients)) {
      const caller = this.callers.get(client);
      if (!caller || caller === 'anonymous') continue;
      const refusal = this.store.refusal(caller.ref);
      if (refusal) {
        this.logger.warn({ clientId: client.id }, `disconnecting: ${refusal}`);
        client.close();
      }
    }
  }
}

/** `<swarm>/<local>` → local, when the first level is a swarm name. */
function localOf(topic: string): string | undefined {
  const slash = topic.indexOf('/');
  if (slash < 1 || checkSwarmName(topic.slice(0, slash))) return undefined;
  return topic.slice(slash + 1);
}

/** The id and deadline of an approval request's envelope (no deadline: now). */
function approvalRequestOf(payload: Buffer): { id: string; deadline: number } | undefined {
  try {
    const json = JSON.parse(payload.toString('utf8')) as {
      payload?: { approval_id?: unknown; deadline?: unknown };
    };
    const id = json?.payload?.approval_id;
    const deadline = Date.parse(String(json?.payload?.deadline));
    return typeof id === 'string'
      ? { id, deadline: Number.isNaN(deadline) ? Date.now() : deadline }
      : undefined;
  } catch {
    return undefined;
  }
}

/** What a published payload says about its sender; not an envelope claims no one. */
function claimOf(payload: Buffer): PublishClaim {
  if (payload.length === 0) return 'empty';
  try {
    const json = JSON.parse(payload.toString('utf8')) as { agent_id?: unknown; role?: unknown };
    return {
      agentId: typeof json?.agent_id === 'string' ? json.agent_id : '(not an envelope)',
      role: typeof json?.role === 'string' ? json.role : undefined,
    };
  } catch {
    return { agentId: '(not a JSON envelope)', role: undefined };
  }
}
