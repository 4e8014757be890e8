import { describe, expect, it } from 'vitest';
import {
  attachDrawn,
  backoffWindow,
  countDuplicates,
  countOutcome,
  inFlight,
  judgeBackoff,
  parseSideEffects,
  retryDelays,
} from '../../../scripts/chaos/count.mjs';

const log = (...lines: string[]) => parseSideEffects(lines.join('\n'));

describe('chaos counting (scripts/chaos/count.mjs)', () => {
  it('parses side-effect lines of task id, attempt and agent, skipping blank lines', () => {
    expect(log('t-1 1 a', '', '  t-2 3 b  ', '')).toEqual([
      { taskId: 't-1', attempt: 1, agentId: 'a' },
      { taskId: 't-2', attempt: 3, agentId: 'b' },
    ]);
  });

  it('counts every execution beyond a task’s first as a duplicate', () => {
    expect(countDuplicates(log('t-1 1 a', 't-1 2 b', 't-1 3 c', 't-2 1 a'))).toBe(2);
    expect(countDuplicates([])).toBe(0);
  });

  it('counts a task neither complete nor dead as lost, also one the ledger never recorded', () => {
    const outcome = countOutcome({
      submitted: ['a', 'b', 'c', 'd', 'e'],
      ledger: [
        { task_id: 'a', state: 'complete' },
        { task_id: 'b', state: 'dead' },
        { task_id: 'c', state: 'assigned' },
        { task_id: 'd', state: 'queued' },
      ],
      starts: log('a 1 x', 'b 1 x', 'c 1 x'),
      done: log('a 1 x'),
    });
    expect(outcome).toMatchObject({
      submitted: 5,
      completed: 1,
      dead: 1,
      lost: 3,
      lostIds: ['c', 'd', 'e'],
      unrecorded: 1,
      neverStarted: 2,
      duplicateStarts: 0,
      duplicateCompletions: 0,
    });
  });

  it('counts a side effect run to its end twice as a duplicate completion though the ledger says complete once', () => {
    const outcome = countOutcome({
      submitted: ['a'],
      ledger: [{ task_id: 'a', state: 'complete' }],
      starts: log('a 1 x', 'a 2 y'),
      done: log('a 2 y', 'a 1 x'),
    });
    expect(outcome).toMatchObject({ lost: 0, duplicateStarts: 1, duplicateCompletions: 1 });
  });

  it('ignores side effects and ledger rows of tasks it did not submit', () => {
    const outcome = countOutcome({
      submitted: ['a'],
      ledger: [
        { task_id: 'a', state: 'complete' },
        { task_id: 'other', state: 'complete' },
      ],
      starts: log('a 1 x', 'other 1 x', 'other 2 y'),
      done: log('a 1 x', 'other 1 x', 'other 2 y'),
    });
    expect(outcome).toMatchObject({ completed: 1, duplicateStarts: 0, duplicateCompletions: 0 });
  });

  it('counts as in flight on an agent its starts without a done line of the same attempt', () => {
    const starts = log('a 1 x', 'b 1 x', 'c 1 y', 'a 2 x');
    const done = log('a 1 x', 'c 1 y');
    expect(inFlight(starts, done, 'x')).toBe(2); // b#1 and a#2
    expect(inFlight(starts, done, 'y')).toBe(0);
    // A done line of another agent's attempt does not finish this one.
    expect(inFlight(log('a 2 x'), log('a 2 y'), 'x')).toBe(1);
  });
});

describe('chaos retry delays (scripts/chaos/count.mjs)', () => {
  const events = [
    { task_id: 't', at: 1_000, kind: 'assigned' },
    { task_id: 't', at: 1_100, kind: 'failed' },
    { task_id: 'u', at: 1_150, kind: 'failed' },
    { task_id: 't', at: 1_900, kind: 'assigned' },
    { task_id: 'u', at: 2_050, kind: 'assigned' },
    { task_id: 't', at: 2_000, kind: 'failed' },
    { task_id: 't', at: 3_600, kind: 'assigned' },
    { task_id: 't', at: 3_700, kind: 'failed' },
    { task_id: 't', at: 3_700, kind: 'dead' },
  ];

  it('measures each counted failure to the next grant of the same task, numbering the failures', () => {
    expect(retryDelays(events)).toEqual([
      { taskId: 't', failure: 1, delayMs: 800 },
      { taskId: 'u', failure: 1, delayMs: 900 },
      { taskId: 't', failure: 2, delayMs: 1_600 },
    ]);
  });

  it('gives the backoff window of PROTOCOL §5.1: [exp/2, exp], capped', () => {
    expect(backoffWindow(1, 1_000, 60_000)).toEqual({ low: 500, high: 1_000 });
    expect(backoffWindow(3, 1_000, 60_000)).toEqual({ low: 2_000, high: 4_000 });
    expect(backoffWindow(10, 1_000, 60_000)).toEqual({ low: 30_000, high: 60_000 });
  });

  it('pairs the nth measured retry of a task with the nth delay the hub drew for it', () => {
    const paired = attachDrawn(retryDelays(events), [
      { taskId: 't', delayMs: 700 },
      { taskId: 'u', delayMs: 880 },
      { taskId: 't', delayMs: 1_500 },
    ]);
    expect(paired.map((d) => d.drawnMs)).toEqual([700, 880, 1_500]);
  });

  it('passes delays within ±20 % of their drawn delay that spread over the window', () => {
    const delays = [
      { taskId: 'a', failure: 1, delayMs: 520, drawnMs: 510 },
      { taskId: 'b', failure: 1, delayMs: 760, drawnMs: 740 },
      { taskId: 'c', failure: 1, delayMs: 990, drawnMs: 960 },
    ];
    expect(judgeBackoff(delays, { baseMs: 1_000, maxMs: 60_000 }).pass).toBe(true);
  });

  it('fails delays rounded up to a 1 s tick: inside the window’s slack but far from what was drawn', () => {
    const delays = [
      { taskId: 'a', failure: 1, delayMs: 1_100, drawnMs: 600 },
      { taskId: 'b', failure: 1, delayMs: 1_150, drawnMs: 1_000 },
    ];
    const verdict = judgeBackoff(delays, { baseMs: 1_000, maxMs: 60_000 });
    expect(verdict.pass).toBe(false);
    expect(verdict.outside.map((d) => d.taskId)).toEqual(['a']);
  });

  it('fails retries all at the same moment: no jitter visible', () => {
    const delays = ['a', 'b', 'c', 'd'].map((taskId) => ({ taskId, failure: 1, delayMs: 900 }));
    const verdict = judgeBackoff(delays, { baseMs: 1_000, maxMs: 60_000 });
    expect(verdict.outside).toEqual([]);
    expect(verdict.spreads).toEqual([
      { failure: 1, samples: 4, minMs: 900, maxMs: 900, spreadMs: 0, jitter: false },
    ]);
    expect(verdict.pass).toBe(false);
  });

  it('fails when no retry was measured at all', () => {
    expect(judgeBackoff([], { baseMs: 1_000, maxMs: 60_000 }).pass).toBe(false);
  });
});
