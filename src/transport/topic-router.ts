import type { z } from 'zod';
import { matchTopic } from '../protocol/access.js';
import { TOPICS, type PayloadOf, type TopicKey } from '../protocol/topic-table.js';
import type { Bus, Received } from './bus.js';

type Params = Readonly<Record<string, string>>;

/** A handler per topic of the table, given the decoded message (its topic's schema). */
export type RouteHandlers = {
  [K in TopicKey]?: (message: Received<PayloadOf<K>>, topic: string, params: Params) => void;
};

export interface RouteOptions {
  /**
   * An empty payload where the table allows one (a Last Will, a cleared retained message); with
   * no handler for the topic, its other messages are not even decoded.
   */
  empty?: { [K in TopicKey]?: (params: Params, topic: string) => void };
  /** A message on the topic that did not decode (already reported, unless `report` is false). */
  refused?: { [K in TopicKey]?: (topic: string) => void };
  /** Passed to `Bus.decode`: CLI readers report nothing and take replies past the size limit. */
  decode?: { report?: boolean; maxBytes?: number };
  /** Topics whose bad messages are someone else's to report (decoded with `report: false`). */
  quiet?: readonly TopicKey[];
}

/**
 * Routes a process's messages from the topic table (topic-table.ts): the topic names the entry,
 * the entry names the schema the bus decodes it with, and the entry's handler gets it. The hub,
 * agents and CLI watchers route through one of these each instead of spelling topics out.
 */
export class TopicRouter {
  constructor(
    private readonly bus: Bus,
    private readonly handlers: RouteHandlers,
    private readonly options: RouteOptions = {},
  ) {}

  /** The topics this router has handlers for. */
  get keys(): TopicKey[] {
    return Object.keys(this.handlers) as TopicKey[];
  }

  /** Handle one message; false when its topic is none of this router's. */
  handle(topic: string, bytes: Buffer): boolean {
    const match = matchTopic(topic);
    if (!match || match.key === 'domain') return false;
    const { key, params, spec } = match;
    const empty = this.options.empty?.[key];
    if (bytes.length === 0 && spec.emptyAllowed && empty) {
      empty(params, topic);
      return true;
    }
    const handler = this.handlers[key] as
      ((message: Received<unknown>, topic: string, params: Params) => void) | undefined;
    if (!handler) return false;
    const schema: z.ZodType = TOPICS[key].schema;
    const quiet = this.options.quiet?.includes(key);
    const decode = quiet ? { ...this.options.decode, report: false } : this.options.decode;
    const message = this.bus.decode(topic, bytes, schema, decode);
    if (message) handler(message, topic, params);
    else this.options.refused?.[key]?.(topic);
    return true;
  }
}
