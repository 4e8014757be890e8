import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { callTools, say, type ScriptEntry } from '../helpers/fake-llm-server.js';
import { LlmTaskHarness, type Outcome } from '../helpers/llm-task.js';

const TURNS = 20;
const BUDGET = 150_000;

/** twenty files of 100 KB: lines of code-like text, each file its own. */
function writeFiles(dir: string): void {
  for (let file = 1; file <= TURNS; file++) {
    const lines: string[] = [];
    for (let line = 0; line < 1_000; line++) {
      lines.push(`export const value${file}_${line} = computeLease(${line}, "${'x'.repeat(50)}");`);
    }
    writeFileSync(
      join(dir, `file-${String(file).padStart(2, '0')}.ts`),
      `${lines.join('\n')}\n`.slice(0, 100_000),
    );
  }
}

const script = (): ScriptEntry[] => [
  ...Array.from({ length: TURNS }, (_, index) =>
    callTools([
      { name: 'read_file', input: { path: `file-${String(index + 1).padStart(2, '0')}.ts` } },
    ]),
  ),
  say('Read all twenty files.'),
];

describe('a long task: prompt caching and a bounded context (fake Messages API measuring both)', () => {
  const harnesses: LlmTaskHarness[] = [];
  afterEach(async () => {
    for (const harness of harnesses.splice(0)) await harness.close();
  });

  async function run(
    promptCaching: boolean,
  ): Promise<{ harness: LlmTaskHarness; outcome: Outcome }> {
    const harness = await LlmTaskHarness.start(script(), {
      // The fake measures every request from what the SDK sent, and refuses one past 200k tokens.
      fake: { measure: true, contextWindow: 200_000 },
      settings: { contextTokens: BUDGET, promptCaching, maxTurns: 30 },
    });
    harnesses.push(harness);
    writeFiles(harness.repo);
    await harness.submit({ task_id: 'long-read', prompt: 'Read the twenty files, one per turn.' });
    return { harness, outcome: await harness.outcomeOf('long-read', 60_000) };
  }

  it('finishes a 20-turn task reading 100 KB each turn within a 150k-token context, compacting, at under half the cost without caching', async () => {
    const cached = await run(true);
    const uncached = await run(false);
    for (const { harness, outcome } of [cached, uncached]) {
      expect(outcome.complete).toMatchObject({
        result: { text: 'Read all twenty files.', turns: TURNS + 1, stopped_by: 'answer' },
      });
      const sizes = harness.fake.requests.map((request) => request.usage!.total);
      expect(sizes).toHaveLength(TURNS + 1);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(BUDGET);
      const result = outcome.complete!.result as { compactions: unknown[] };
      expect(result.compactions.length).toBeGreaterThan(0);
      expect(harness.progressOf('long-read')).toContainEqual(
        expect.stringMatching(
          /^context compacted: cleared \d+ old tool result\(s\), ~\d+ → ~\d+ tokens, to fit its context budget of 150000 tokens/,
        ),
      );
    }
    // The cached run's requests carried breakpoints (tools, system, previous and newest turn),
    // and the fake, matching prefixes as the API does, read most of each request from its cache.
    const requests = cached.harness.fake.requests;
    expect(requests[0]!.usage!.breakpoints).toBe(3);
    expect(requests.slice(1).every((request) => request.usage!.breakpoints === 4)).toBe(true);
    const read = requests.reduce((sum, request) => sum + request.usage!.cache_read_input_tokens, 0);
    const total = requests.reduce((sum, request) => sum + request.usage!.total, 0);
    expect(read / total).toBeGreaterThan(0.5);
    expect(
      uncached.harness.fake.requests.every((request) => request.usage!.breakpoints === 0),
    ).toBe(true);

    const costOf = (outcome: Outcome) =>
      (outcome.complete!.result as { usage: { cost_usd: number } }).usage.cost_usd;
    const ratio = costOf(cached.outcome) / costOf(uncached.outcome);
    expect(ratio).toBeLessThan(0.5);
  });
});
