import { describe, expect, it } from 'vitest';
import { ReplayGuard } from '../../src/auth/replay-guard.js';

const NOW = Date.parse('2026-11-21T10:00:00Z');

describe('the replay window', () => {
  it('accepts a message once and refuses it again', () => {
    const guard = new ReplayGuard(300_000, 1_000);
    expect(guard.check('a', 'm1', NOW, NOW)).toBe('ok');
    expect(guard.check('a', 'm1', NOW, NOW + 1)).toBe('REPLAYED');
    // The same id from another signer is another message.
    expect(guard.check('b', 'm1', NOW, NOW + 2)).toBe('ok');
  });

  it('refuses a message whose timestamp is outside the window, either way', () => {
    const guard = new ReplayGuard(300_000, 1_000);
    expect(guard.check('a', 'old', NOW - 300_001, NOW)).toBe('STALE');
    expect(guard.check('a', 'future', NOW + 300_001, NOW)).toBe('STALE');
    expect(guard.check('a', 'nan', Number.NaN, NOW)).toBe('STALE');
  });

  it('forgets ids once their timestamps leave the window, so memory is bounded by time', () => {
    const guard = new ReplayGuard(60_000, 100_000);
    for (let i = 0; i < 500; i++) guard.check('a', `m${i}`, NOW, NOW);
    expect(guard.held).toBe(500);
    guard.check('a', 'later', NOW + 90_000, NOW + 90_000);
    expect(guard.held).toBe(1);
  });

  it('holds at most its capacity, shrinking the window instead of growing', () => {
    const guard = new ReplayGuard(300_000, 100);
    for (let i = 0; i < 100; i++) guard.check('a', `old${i}`, NOW - 100_000, NOW);
    for (let i = 0; i < 10; i++) guard.check('a', `new${i}`, NOW, NOW);
    expect(guard.held).toBeLessThanOrEqual(100);
    // The dropped bucket's messages can no longer be told from replays: they are stale now.
    expect(guard.check('a', 'old0', NOW - 100_000, NOW)).toBe('STALE');
    expect(guard.check('a', 'new0', NOW, NOW)).toBe('REPLAYED');
  });
});
