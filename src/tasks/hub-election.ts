import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import type { Keyring } from '../auth/keyring.js';
import type { Config } from '../config/load.js';
import { SheriError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { Hub } from './hub.js';
import { LeadershipLost } from './ledger-store.js';
import { connectLedger, ledgerError, PostgresLedger, redactLedgerUrl } from './postgres-ledger.js';

/** Timings of the leadership, in milliseconds. */
export interface ElectionTimings {
  /** A leader that has not renewed for this long (the database's clock) may be replaced. */
  leaseMs: number;
  /** The leader renews this often; it stops leading on its own once it has not for leaseMs. */
  renewMs: number;
  /** A standby asks whether the lease has lapsed this often. */
  pollMs: number;
}

export const ELECTION_DEFAULTS: ElectionTimings = { leaseMs: 3_000, renewMs: 500, pollMs: 500 };

export interface HubElectionOptions {
  /** postgres://… of the ledger's database (one database per swarm). */
  url: string;
  config: Config;
  logger: Logger;
  keyring?: Keyring;
  timings?: Partial<ElectionTimings>;
  /** Who this hub is, in the leader row (default: host, pid and a random suffix). */
  holder?: string;
  /** A failure that is not a lost leadership (a bug, a refused start): `sheri hub` exits. */
  onFatal?: (error: Error) => void;
}

/**
 * Several `sheri hub` processes on one PostgreSQL ledger, exactly one of them leading (PROTOCOL
 * §2.2): the leader row of the database holds an epoch, a holder and an expiry. A standby polls
 * it and takes the lead once it has expired, raising the epoch; the leader renews it. Every
 * write of a leader carries its epoch and is refused once another has raised it
 * (postgres-schema.ts), so a leader that was paused or cut off writes nothing after it is
 * replaced: on a refused write, a failed renewal or a renewal missed for too long, it stops
 * (records, acknowledges and sends nothing more, closes its broker session) and stands by.
 *
 * Standbys are not connected to the broker: all hubs share one client id and one persistent
 * session (the messages that came while no one led wait in it) and the hub's identity.
 */
export class HubElection {
  private readonly timings: ElectionTimings;
  private readonly holder: string;
  private client: pg.Client | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private renewing = false;
  private closed = false;
  private epoch = 0;
  /** When the last successful renewal (or the takeover) was sent, on this process's clock. */
  private renewedAt = 0;
  private leading: Promise<void> | undefined;
  private current: Hub | undefined;
  private readonly leaders: ((hub: Hub) => void)[] = [];

  private constructor(private readonly options: HubElectionOptions) {
    this.timings = { ...ELECTION_DEFAULTS, ...options.timings };
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  }

  /** Join the election: lead at once if no one does, else stand by. */
  static async start(options: HubElectionOptions): Promise<HubElection> {
    const election = new HubElection(options);
    election.client = await connectLedger(options.url);
    // The tables (and the leader row) exist before anyone asks for the lead.
    await PostgresLedger.open(options.url, 0).then((store) => store.close());
    options.logger.info(
      { ledger: redactLedgerUrl(options.url), holder: election.holder },
      'hub standing by',
    );
    election.poll();
    return election;
  }

  /** The hub, while this process leads. */
  get hub(): Hub | undefined {
    return this.current;
  }

  /** Resolves with the hub the next time this process starts leading. */
  nextLead(): Promise<Hub> {
    return new Promise((resolve) => this.leaders.push(resolve));
  }

  /** While leading: whether the lease is still surely ours (renewed recently enough). */
  holds(): boolean {
    const { leaseMs } = this.timings;
    // A standby takes over no sooner than leaseMs after our last renewal reached the database,
    // which is after we sent it: until then the lead is ours (writes are fenced regardless).
    return this.epoch > 0 && performance.now() - this.renewedAt < leaseMs;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.pollTimer);
    clearInterval(this.renewTimer);
    await this.leading?.catch(() => undefined);
    const hub = this.current;
    this.current = undefined;
    if (hub) await hub.close();
    if (this.epoch > 0 && this.client) {
      // Handed over at once: a standby need not wait for the lease to lapse.
      await this.client
        .query(`UPDATE hub_leader SET expires_at = '-infinity' WHERE id = 1 AND epoch = $1`, [
          this.epoch,
        ])
        .catch(() => undefined);
    }
    await this.client?.end().catch(() => undefined);
  }

  private poll(): void {
    if (this.closed) return;
    this.pollTimer = setTimeout(() => {
      this.tryLead().then(
        (led) => {
          if (!led) this.poll();
        },
        (error: unknown) => {
          this.options.logger.warn({ err: error }, 'could not ask the ledger who leads');
          this.poll();
        },
      );
    }, this.epochPollDelay());
  }

  /** The first question at once; then every pollMs. */
  private epochPollDelay(): number {
    return this.pollTimer === undefined ? 0 : this.timings.pollMs;
  }

  private async tryLead(): Promise<boolean> {
    const client = this.client!;
    const { swarm } = this.options.config;
    const sentAt = performance.now();
    const taken = await client
      .query<{ epoch: number }>(
        `UPDATE hub_leader SET epoch = epoch + 1, holder = $1, swarm = COALESCE(swarm, $2),
           expires_at = now() + $3 * interval '1 millisecond'
         WHERE id = 1 AND expires_at < now() AND (swarm IS NULL OR swarm = $2)
         RETURNING epoch`,
        [this.holder, swarm, this.timings.leaseMs],
      )
      .catch((error: unknown) => {
        throw ledgerError(this.options.url, error);
      });
    const epoch = taken.rows[0]?.epoch;
    if (epoch === undefined) {
      const row = await client.query<{ swarm: string | null }>(
        'SELECT swarm FROM hub_leader WHERE id = 1',
      );
      const owner = row.rows[0]?.swarm;
      if (owner && owner !== swarm) {
        this.fatal(
          new Error(
            `the ledger ${redactLedgerUrl(this.options.url)} belongs to swarm "${owner}", not "${swarm}": give each swarm its own database`,
          ),
        );
        return true;
      }
      return false;
    }
    if (this.closed) return true;
    this.epoch = epoch;
    this.renewedAt = sentAt;
    this.renewTimer = setInterval(() => this.renew(), this.timings.renewMs);
    this.leading = this.lead(epoch);
    await this.leading;
    return true;
  }

  /** Load the ledger under our epoch and start the hub on it. */
  private async lead(epoch: number): Promise<void> {
    const { config, logger } = this.options;
    logger.info({ epoch, holder: this.holder }, 'this hub leads now; loading the ledger');
    let store: PostgresLedger | undefined;
    try {
      store = await PostgresLedger.open(this.options.url, epoch);
      if (this.closed || this.epoch !== epoch) {
        await store.close();
        return;
      }
      const started: { hub?: Hub } = {};
      const hub = await Hub.start({
        config,
        logger,
        store,
        leadership: { epoch, holds: () => this.holds() },
        ...(this.options.keyring ? { keyring: this.options.keyring } : {}),
        // May come before start returns (a first write refused): then `started.hub` is unset.
        onFatal: (error) => this.lost(started.hub, error),
      });
      started.hub = hub;
      if (this.epoch !== epoch) {
        hub.depose(new LeadershipLost(`epoch ${epoch} was lost while the hub started`));
        return;
      }
      this.current = hub;
      // Its credential revoked or rotated, or a broker back with another store: no hub of this
      // process would be let in again, so the election stops (`sheri hub`: exit 3).
      void hub.bus.loginRefused().then((error) => {
        if (this.current === hub) this.fatal(error);
      });
      for (const resolve of this.leaders.splice(0)) resolve(hub);
    } catch (error) {
      await store?.close();
      // A fault of this hub's own config (a schedule that cannot run) fails every start the
      // same way: stop, as a hub on SQLite does, rather than take and drop the lead for ever.
      if (error instanceof SheriError) return this.fatal(error);
      this.standBy(error as Error);
    }
  }

  /** The lease is renewed, or found lost: then the hub stops leading. */
  private renew(): void {
    if (this.renewing || this.epoch === 0) return;
    if (!this.holds()) {
      return this.depose(
        new LeadershipLost(
          `the lease of epoch ${this.epoch} was not renewed for ${this.timings.leaseMs} ms`,
        ),
      );
    }
    this.renewing = true;
    const epoch = this.epoch;
    const sentAt = performance.now();
    this.client!.query(
      `UPDATE hub_leader SET expires_at = now() + $2 * interval '1 millisecond'
         WHERE id = 1 AND epoch = $1`,
      [epoch, this.timings.leaseMs],
    ).then(
      (result) => {
        this.renewing = false;
        if (epoch !== this.epoch) return;
        if (result.rowCount === 1) this.renewedAt = sentAt;
        else this.depose(new LeadershipLost(`epoch ${epoch} was superseded by another hub`));
      },
      (error: unknown) => {
        this.renewing = false;
        this.options.logger.warn(
          { err: ledgerError(this.options.url, error) },
          'lease renewal failed',
        );
      },
    );
  }

  private depose(reason: Error): void {
    const hub = this.current;
    if (hub) hub.depose(reason);
    else this.standBy(reason);
  }

  /** The hub stopped: lost the lead (stand by) or failed (stand by too, unless it is a bug). */
  private lost(hub: Hub | undefined, error: Error): void {
    if (hub && this.current === hub) this.current = undefined;
    this.standBy(error);
  }

  private standBy(reason: Error): void {
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    if (this.epoch === 0) return;
    this.options.logger.warn({ err: reason, epoch: this.epoch }, 'hub standing by again');
    this.epoch = 0;
    this.poll();
  }

  private fatal(error: Error): void {
    const onFatal =
      this.options.onFatal ??
      ((err: Error) => this.options.logger.fatal({ err }, 'hub election stopped'));
    void this.close().finally(() => onFatal(error));
  }
}
