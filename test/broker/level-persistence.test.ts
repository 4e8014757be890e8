import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import fc from 'fast-check';
import { Level } from 'level';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedBroker } from '../../src/broker/embedded-broker.js';
import { BatchedLevelPersistence } from '../../src/broker/level-persistence.js';
import { silentLogger } from '../../src/logging/logger.js';
import { startSheri } from '../helpers/sheri-process.js';
import { tempDirs } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/scenarios.js';
import { freePort } from '../helpers/tools.js';

interface RetainedStore {
  setup(broker: unknown): Promise<void>;
  storeRetained(packet: object): Promise<void>;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

// The original, which scans and decodes every retained message for each filter: the reference.
const require = createRequire(import.meta.url);
const OriginalPersistence = require('aedes-persistence-level/asyncPersistence.js') as new (
  db: Level<string, Buffer>,
) => RetainedStore & { destroy(): Promise<void> };

const BROKER = { id: 'broker-under-test' };

/** One store on disk, reopened on restart as a broker restart reopens it. */
class Opened {
  db!: Level<string, Buffer>;
  store!: RetainedStore;

  constructor(
    private readonly dir: string,
    private readonly make: (db: Level<string, Buffer>) => RetainedStore,
  ) {}

  async open(): Promise<this> {
    this.db = new Level<string, Buffer>(this.dir, { valueEncoding: 'buffer' });
    await this.db.open();
    this.store = this.make(this.db);
    await this.store.setup(BROKER);
    return this;
  }

  async close(): Promise<void> {
    if (this.store instanceof BatchedLevelPersistence) await this.store.flush();
    await this.db.close();
  }
}

async function read(store: RetainedStore, filters: string[]): Promise<object[]> {
  const packets: object[] = [];
  for await (const packet of store.createRetainedStreamCombi(filters))
    packets.push(packet as object);
  return packets;
}

let counter = 0;
const packetOf = (topic: string, payload: string) => ({
  cmd: 'publish',
  topic,
  payload: Buffer.from(payload),
  qos: 1,
  retain: true,
  brokerId: BROKER.id,
  brokerCounter: ++counter,
});

const WORDS = ['s', 'agents', 'status', 'a1', 'a2', '', 'é', '\u{1F600}'];
const word = fc.constantFrom(...WORDS);
const topic = fc.array(word, { minLength: 1, maxLength: 4 }).map((words) => words.join('/'));
const filter = fc
  .tuple(fc.array(fc.oneof(word, fc.constant('+')), { maxLength: 3 }), fc.boolean())
  .map(([words, some]) => [...words, ...(some || words.length === 0 ? ['#'] : [])].join('/'));
// A burst of stores (some deletes: an empty payload) asked for at once, as many clients do.
const burst = fc.array(
  fc.record({ topic, payload: fc.oneof(fc.constant(''), fc.string({ maxLength: 8 })) }),
  { minLength: 1, maxLength: 8 },
);
const step = fc.oneof(
  { weight: 4, arbitrary: fc.record({ burst }) },
  { weight: 1, arbitrary: fc.constant({ restart: true as const }) },
  {
    weight: 2,
    arbitrary: fc.record({ filters: fc.array(filter, { minLength: 1, maxLength: 3 }) }),
  },
);

describe('the level persistence of retained messages', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function pair(): Promise<{ ours: Opened; original: Opened }> {
    const dir = mkdtempSync(join(tmpdir(), 'sheri-retained-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const ours = await new Opened(
      join(dir, 'ours'),
      (db) =>
        new BatchedLevelPersistence(db, (error) => {
          throw error;
        }),
    ).open();
    const original = await new Opened(
      join(dir, 'original'),
      (db) => new OriginalPersistence(db),
    ).open();
    cleanups.push(
      () => ours.close(),
      () => original.close(),
    );
    return { ours, original };
  }

  it('answers every filter as the original full scan does, through stores, deletes and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
        const { ours, original } = await pair();
        for (const next of [...steps, { filters: ['#'] }]) {
          if ('burst' in next) {
            const packets = next.burst.map(({ topic: t, payload }) => packetOf(t, payload));
            // The original one at a time (its concurrent writes land in any order); ours at once.
            for (const packet of packets) await original.store.storeRetained(packet);
            await Promise.all(packets.map((packet) => ours.store.storeRetained(packet)));
          } else if ('restart' in next) {
            for (const side of [ours, original]) {
              await side.close();
              await side.open();
            }
          } else {
            const theirs = await read(original.store, next.filters);
            expect(await read(ours.store, next.filters)).toEqual(theirs);
          }
        }
        for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      }),
      { numRuns: 40 },
    );
  });

  it('clears the QoS 2 packets a client sent but never released when it comes back clean, also after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sheri-incoming-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const side = await new Opened(
      dir,
      (db) =>
        new BatchedLevelPersistence(db, (error) => {
          throw error;
        }),
    ).open();
    cleanups.push(() => side.close());
    const store = () => side.store as BatchedLevelPersistence;
    const sent = (id: string, messageId: number) =>
      store().incomingStorePacket({ id }, { ...packetOf('s/x', 'q2'), qos: 2, messageId });
    const held = (id: string, messageId: number) =>
      store()
        .incomingGetPacket({ id }, { messageId })
        .then(
          () => true,
          () => false,
        );
    await sent('before-restart', 7);
    await side.close();
    await side.open();
    await sent('after-restart', 8);
    await sent('other', 9);
    expect([await held('before-restart', 7), await held('after-restart', 8)]).toEqual([true, true]);
    await store().cleanIncoming({ id: 'before-restart' });
    await store().cleanIncoming({ id: 'after-restart' });
    await store().cleanIncoming({ id: 'never-sent' });
    expect([await held('before-restart', 7), await held('after-restart', 8)]).toEqual([
      false,
      false,
    ]);
    expect(await held('other', 9)).toBe(true);
    // Cleared once, sent again: cleared again.
    await sent('after-restart', 8);
    await store().cleanIncoming({ id: 'after-restart' });
    expect(await held('after-restart', 8)).toBe(false);
  });
});

describe("a persistent session's queue of QoS 1 messages", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const tempDir = tempDirs('sheri-outgoing-');

  /** A store whose batches wait until `release()`, and the errors it reported. */
  async function heldStore(fail?: Error) {
    const dir = tempDir();
    const errors: unknown[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const side = await new Opened(dir, (db) => {
      const batch = db.batch.bind(db) as (ops: unknown, options: unknown) => Promise<void>;
      (db as unknown as { batch: typeof batch }).batch = async (ops, options) => {
        await released;
        if (fail) throw fail;
        return batch(ops, options);
      };
      return new BatchedLevelPersistence(db, (error) => errors.push(error));
    }).open();
    // Released before the close, which waits for the writes, should a test end without it.
    cleanups.push(() => side.close(), release);
    return { side, store: side.store as BatchedLevelPersistence, release, errors };
  }

  const queued = async (store: BatchedLevelPersistence, id: string) => {
    const packets: { payload: Buffer; messageId?: number }[] = [];
    for await (const packet of store.outgoingStream({ id })) packets.push(packet as never);
    return packets.map((packet) => [packet.payload.toString(), packet.messageId]);
  };

  it('hands a message to its online session before the store has written it, and writes it after', async () => {
    const { side, store, release, errors } = await heldStore();
    const packet = { ...packetOf('s/tasks/new', 'one'), retain: false };
    // Neither waits for the batch, which is held: aedes delivers on their word.
    await store.outgoingEnqueueCombi([{ clientId: 'hub' }], packet);
    await store.outgoingUpdate({ id: 'hub' }, { ...packet, messageId: 5 });
    expect(await queued(store, 'hub')).toEqual([['one', 5]]);
    release();
    await store.flush();
    // On disk too: a restart brings it back, in flight under the same id.
    await side.close();
    await side.open();
    expect(await queued(side.store as BatchedLevelPersistence, 'hub')).toEqual([['one', 5]]);
    expect(errors).toEqual([]);
  });

  it('removes an acknowledged message from the store, in the order the writes were asked', async () => {
    const { side, store, release } = await heldStore();
    const packet = { ...packetOf('s/tasks/new', 'acked'), retain: false };
    await store.outgoingEnqueueCombi([{ clientId: 'hub' }], packet);
    await store.outgoingUpdate({ id: 'hub' }, { ...packet, messageId: 6 });
    release();
    await store.flush();
    await store.outgoingClearMessageId({ id: 'hub' }, { messageId: 6 });
    expect(await queued(store, 'hub')).toEqual([]);
    await store.flush();
    await side.close();
    await side.open();
    expect(await queued(side.store as BatchedLevelPersistence, 'hub')).toEqual([]);
  });

  /** A store that records the keys of every batch it writes. */
  async function recordingStore() {
    const written: string[][] = [];
    const side = await new Opened(tempDir(), (db) => {
      const batch = db.batch.bind(db) as (ops: unknown, options: unknown) => Promise<void>;
      (db as unknown as { batch: typeof batch }).batch = (ops, options) => {
        written.push((ops as { key: string }[]).map((op) => op.key));
        return batch(ops, options);
      };
      return new BatchedLevelPersistence(db, () => undefined);
    }).open();
    cleanups.push(() => side.close());
    return { store: side.store as BatchedLevelPersistence, written };
  }

  it('never writes a message its session acknowledged a turn or two later: its put and its delete cancel out', async () => {
    const { store, written } = await recordingStore();
    const packet = { ...packetOf('s/tasks/new', 'quick'), retain: false };
    await store.outgoingEnqueueCombi([{ clientId: 'hub' }], packet);
    await store.outgoingUpdate({ id: 'hub' }, { ...packet, messageId: 7 });
    // The PUBACK comes back in a later turn of the event loop, as it does over the network.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    await store.outgoingClearMessageId({ id: 'hub' }, { messageId: 7 });
    await store.flush();
    expect(written.flat()).toEqual([]);
    expect(await queued(store, 'hub')).toEqual([]);
  });

  it('writes a message its session has not acknowledged within a few milliseconds, unasked', async () => {
    const { store, written } = await recordingStore();
    const packet = { ...packetOf('s/tasks/new', 'slow'), retain: false };
    await store.outgoingEnqueueCombi([{ clientId: 'hub' }], packet);
    await store.outgoingUpdate({ id: 'hub' }, { ...packet, messageId: 8 });
    await waitUntil(() => written.length > 0, 2_000);
    expect(written.flat().filter((key) => key.includes('hub'))).toHaveLength(2);
  });

  it('reports a write the store refused, and keeps the message for the session in memory', async () => {
    const refused = new Error('No space left on device');
    const { store, release, errors } = await heldStore(refused);
    const packet = { ...packetOf('s/tasks/new', 'kept'), retain: false };
    await store.outgoingEnqueueCombi([{ clientId: 'hub' }], packet);
    release();
    await store.flush();
    expect(errors).toEqual([refused]);
    expect(await queued(store, 'hub')).toEqual([['kept', undefined]]);
  });
});

describe('retained messages through the embedded broker', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'sheri-retained-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** A broker on `dir`; `close` to restart it on the same store. */
  async function start(dir: string): Promise<EmbeddedBroker> {
    const broker = await EmbeddedBroker.start({
      port: 0,
      host: '127.0.0.1',
      dataDir: dir,
      logger: silentLogger(),
    });
    let closed = false;
    const close = broker.close.bind(broker);
    broker.close = async () => {
      if (closed) return;
      closed = true;
      await close();
    };
    cleanups.push(() => broker.close());
    return broker;
  }

  async function publish(broker: EmbeddedBroker, messages: [string, string][]): Promise<void> {
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    try {
      // All at once, as a swarm's agents do: the broker writes them in one batch.
      await Promise.all(
        messages.map(([topic, payload]) =>
          client.publishAsync(topic, payload, { qos: 1, retain: true }),
        ),
      );
    } finally {
      await client.endAsync();
    }
  }

  /**
   * The retained messages a new subscriber to `filter` gets, in order: `filter` and the retained
   * `end` go in one SUBSCRIBE, and aedes sends the retained messages of its filters in turn.
   */
  async function retainedFor(broker: EmbeddedBroker, filter: string): Promise<string[]> {
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    try {
      const seen: string[] = [];
      const ended = new Promise<void>((resolve) =>
        client.on('message', (topic, payload) => {
          if (topic === 'end') resolve();
          else seen.push(`${topic}=${payload.toString()}`);
        }),
      );
      await client.subscribeAsync({ [filter]: { qos: 1 }, end: { qos: 1 } });
      await ended;
      return seen;
    } finally {
      await client.endAsync();
    }
  }

  it('sends what `+` and `#` filters match after a restart, less what an empty payload deleted', async () => {
    const dir = tempDir();
    let broker = await start(dir);
    await publish(broker, [
      ['s/agents', 'list'],
      ['s/agents/a1/status', 'a1'],
      ['s/agents/a2/status', 'a2'],
      ['s/agents/a3/status', 'a3'],
      ['s/hub/status', 'hub'],
      ['end', 'end'],
    ]);
    await publish(broker, [['s/agents/a2/status', '']]);
    expect(await retainedFor(broker, 's/agents/+/status')).toEqual([
      's/agents/a1/status=a1',
      's/agents/a3/status=a3',
    ]);

    await broker.close();
    broker = await start(dir);
    expect(await retainedFor(broker, 's/agents/+/status')).toEqual([
      's/agents/a1/status=a1',
      's/agents/a3/status=a3',
    ]);
    expect(await retainedFor(broker, 's/#')).toEqual([
      's/agents=list',
      's/agents/a1/status=a1',
      's/agents/a3/status=a3',
      's/hub/status=hub',
    ]);
    expect(await retainedFor(broker, '+/hub/+')).toEqual(['s/hub/status=hub']);
    expect(await retainedFor(broker, 's/agents/a1/status')).toEqual(['s/agents/a1/status=a1']);

    await publish(broker, [['s/agents/a1/status', '']]);
    expect(await retainedFor(broker, 's/agents/#')).toEqual([
      's/agents=list',
      's/agents/a3/status=a3',
    ]);
    await broker.close();
    broker = await start(dir);
    expect(await retainedFor(broker, 's/agents/#')).toEqual([
      's/agents=list',
      's/agents/a3/status=a3',
    ]);
  });

  it("restores a persistent session's subscriptions after a restart, and drops them when its id comes back clean", async () => {
    const dir = tempDir();
    let broker = await start(dir);
    const keeper = (clean: boolean) => {
      const client = mqtt.connect(broker.url, { clientId: 'keeper', clean, protocolVersion: 4 });
      cleanups.push(() => client.endAsync(true));
      const connack = new Promise<boolean>((resolve) =>
        client.once('connect', (packet) => resolve(packet.sessionPresent)),
      );
      return { client, sessionPresent: connack };
    };
    const first = keeper(false);
    await first.sessionPresent;
    await first.client.subscribeAsync('p/live', { qos: 1 });
    await first.client.endAsync();
    await broker.close();
    broker = await start(dir);

    const back = keeper(false);
    expect(await back.sessionPresent).toBe(true);
    const received = new Promise<string>((resolve) =>
      back.client.on('message', (_topic, payload) => resolve(payload.toString())),
    );
    const publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    cleanups.push(() => publisher.endAsync(true));
    await publisher.publishAsync('p/live', 'without subscribing again', { qos: 1 });
    expect(await received).toBe('without subscribing again');
    await back.client.endAsync();

    const clean = keeper(true);
    expect(await clean.sessionPresent).toBe(false);
    await clean.client.endAsync();
    const after = keeper(false);
    expect(await after.sessionPresent).toBe(false);
  });

  it('does not bring back a retained status cleared right after it was set, before or after a restart', async () => {
    const dir = tempDir();
    let broker = await start(dir);
    await publish(broker, [['end', 'end']]);
    // Set and cleared at once (an agent that joins and leaves): two writes of one topic in flight.
    await publish(broker, [
      ['s/agents/gone/status', 'online'],
      ['s/agents/gone/status', ''],
      ['s/agents/stays/status', 'online'],
    ]);
    expect(await retainedFor(broker, 's/agents/+/status')).toEqual([
      's/agents/stays/status=online',
    ]);
    await broker.close();
    broker = await start(dir);
    expect(await retainedFor(broker, 's/agents/+/status')).toEqual([
      's/agents/stays/status=online',
    ]);
  });

  it('keeps each retained message it forwarded, and none whose deletion it forwarded, when killed with SIGKILL', async () => {
    const dir = tempDir();
    const killable = async () => {
      const port = await freePort();
      const args = ['broker', '--no-auth', '--port', String(port), '--data-dir', dir];
      const proc = startSheri([...args, '--log-format', 'json']);
      cleanups.push(() => proc.kill('SIGKILL'));
      await proc.waitForOutput('broker listening');
      return { proc, url: `mqtt://127.0.0.1:${port}` };
    };
    const first = await killable();
    const client = await mqtt.connectAsync(first.url, { protocolVersion: 4, reconnectPeriod: 0 });
    cleanups.push(() => client.endAsync(true));
    // aedes forwards a message once its store is done (its PUBACK goes before: not a proof).
    const forwarded = new Set<string>();
    client.on('message', (topic, payload) => forwarded.add(`${topic}=${payload.toString()}`));
    await client.subscribeAsync('s/+', { qos: 1 });
    const retain = (topic: string, payload: string) =>
      client.publishAsync(topic, payload, { qos: 1, retain: true });
    await Promise.all([retain('end', 'end'), retain('s/a1', 'a1'), retain('s/a2', 'a2')]);
    await Promise.all([retain('s/a2', ''), retain('s/a3', 'a3')]);
    await waitUntil(
      () => ['s/a1=a1', 's/a2=', 's/a3=a3'].every((seen) => forwarded.has(seen)),
      5_000,
      () => [...forwarded].join(),
    );
    await first.proc.kill('SIGKILL');
    await client.endAsync(true);

    const second = await killable();
    const reader = await mqtt.connectAsync(second.url, { protocolVersion: 4, reconnectPeriod: 0 });
    cleanups.push(() => reader.endAsync(true));
    const seen: string[] = [];
    const ended = new Promise<void>((resolve) =>
      reader.on('message', (topic, payload) => {
        if (topic === 'end') resolve();
        else seen.push(`${topic}=${payload.toString()}`);
      }),
    );
    await reader.subscribeAsync({ 's/+': { qos: 1 }, end: { qos: 1 } });
    await ended;
    expect(seen).toEqual(['s/a1=a1', 's/a3=a3']);
  });
});
