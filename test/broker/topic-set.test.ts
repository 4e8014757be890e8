import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareUtf8, TopicSet } from '../../src/broker/topic-set.js';

// The matcher aedes-persistence-level scans the store with, from its own dependencies.
const fromPersistence = createRequire(
  createRequire(import.meta.url).resolve('aedes-persistence-level/asyncPersistence.js'),
);
const { QlobberTrue } = fromPersistence('qlobber') as {
  QlobberTrue: new (options: object) => { add(filter: string): void; test(topic: string): boolean };
};
const QLOBBER_OPTIONS = {
  wildcard_one: '+',
  wildcard_some: '#',
  separator: '/',
  match_empty_levels: true,
};

/** What retainedMessagesByPattern answers: every stored topic tested, in the store's key order. */
function scan(topics: Iterable<string>, filter: string): string[] {
  const matcher = new QlobberTrue(QLOBBER_OPTIONS);
  matcher.add(filter);
  return [...topics]
    .filter((topic) => matcher.test(topic))
    .sort((a, b) => Buffer.compare(Buffer.from(`retained:${a}`), Buffer.from(`retained:${b}`)));
}

// Few words, so that topics share levels and filters hit; empty levels, `$`, look-alikes of the
// wildcards, and characters whose UTF-8 order differs from their UTF-16 order.
const WORDS = ['a', 'b', 'ab', '', '$SYS', 'a+', '#x', 'é', '\u{1F600}', '\uE000', 'agents'];
const word = fc.constantFrom(...WORDS);
const topic = fc.array(word, { minLength: 1, maxLength: 5 }).map((words) => words.join('/'));
const filter = fc
  .array(fc.oneof({ weight: 3, arbitrary: word }, fc.constantFrom('+', '#')), {
    minLength: 1,
    maxLength: 6,
  })
  // qlobber refuses more than three `#` in a filter (aedes lets only one through, last).
  .filter((words) => words.filter((w) => w === '#').length <= 3)
  .map((words) => words.join('/'));
const op = fc.oneof(
  { weight: 3, arbitrary: fc.record({ add: topic }) },
  { weight: 2, arbitrary: fc.record({ delete: topic }) },
);

describe('the retained topics tree', () => {
  it('answers every filter as a full scan of the stored topics does, through adds and deletes', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 40 }),
        fc.array(filter, { minLength: 1 }),
        (ops, filters) => {
          const set = new TopicSet();
          const model = new Set<string>();
          for (const step of ops) {
            if ('add' in step) {
              set.add(step.add);
              model.add(step.add);
            } else {
              expect(set.delete(step.delete)).toBe(model.delete(step.delete));
            }
          }
          expect(set.size).toBe(model.size);
          for (const t of WORDS) expect(set.has(t)).toBe(model.has(t));
          for (const f of filters) expect(set.match(f)).toEqual(scan(model, f));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('matches a topic with `/#` as its parent, and an empty level with `+`', () => {
    const set = new TopicSet();
    for (const t of ['s/agents', 's/agents/a1', 's//x', 's/agents/a1/deep']) set.add(t);
    expect(set.match('s/agents/#')).toEqual(['s/agents', 's/agents/a1', 's/agents/a1/deep']);
    expect(set.match('s/+/x')).toEqual(['s//x']);
    expect(set.match('s/agents/+')).toEqual(['s/agents/a1']);
  });

  it('forgets a deleted topic and the branch that held only it, keeping its parent', () => {
    const set = new TopicSet();
    set.add('s/agents');
    set.add('s/agents/a1/status');
    expect(set.delete('s/agents/a1/status')).toBe(true);
    expect(set.delete('s/agents/a1/status')).toBe(false);
    expect(set.match('#')).toEqual(['s/agents']);
    expect(set.delete('s/agents')).toBe(true);
    expect(set.match('#')).toEqual([]);
    expect(set.size).toBe(0);
  });

  it('orders topics by their UTF-8 bytes, as the store orders its keys', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        expect(Math.sign(compareUtf8(a, b))).toBe(
          Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))),
        );
      }),
      { numRuns: 2_000 },
    );
  });
});
