import { setFlagsFromString } from 'node:v8';

/**
 * V8's settings for a process that runs agents (`sheri agent`, `sheri --mqtt`), set before the
 * agent's modules load (issue 10: 200 agent processes on one machine, ≤ 60 MB each). With V8's
 * defaults the young generation doubles from 2 to 16 MB while the modules load, and an agent
 * that then mostly waits keeps that memory for life.
 *
 * - `--semi-space-growth-factor=1`: the young generation keeps its first size, 1 MB a
 *   semi-space.
 * - `--optimize-for-size`: V8's mode for small devices, which prefers memory over speed where
 *   it has the choice (its heap grows in smaller steps).
 *
 * Measured (docs/BENCHMARKS.md, 2026-12-02), with 200 agent processes: RSS per idle agent 73.6 →
 * 65.9 MB, its private part (RssAnon) 29.7 → 21.9 MB. The price: ~15 ms more CPU to start (374–
 * 394 against 362–374 ms, 16 starts each; the first flag alone saves less, the second alone costs
 * 30 ms), and CPU per dispatch-only or `true` task within the noise of the machine. They change
 * how much memory V8 keeps, never what the agent does. Node lets V8 flags change after start
 * (v8.setFlagsFromString); a flag a later V8 no longer knows is ignored. The hub, the broker and
 * `sheri up` keep V8's defaults: they carry the swarm's load.
 */
export function leanAgentHeap(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--optimize-for-size');
}
