import { setFlagsFromString } from 'node:v8';

/**
 * V8's setting for a process that runs agents (`sheri agent`, `sheri --mqtt`), set before the
 * agent's modules load (issue 10: 200 agent processes on one machine, ≤ 60 MB each):
 * `--semi-space-growth-factor=1`: the young generation stops at 4 MiB
 * (test/cli/agent-heap.test.ts). With V8's defaults it doubles up to 16 MiB while the modules
 * load, and an agent that then mostly waits keeps that memory for life.
 *
 * Measured (docs/BENCHMARKS.md, 2026-12-02): RSS per idle agent 73.6 → 68.1 MB, its private
 * part (RssAnon) 29.7 → 24.1 MB (200 agent processes); idle CPU unchanged; ~15 ms more CPU to
 * start; CPU per dispatch-only or `true` task within the noise of the machine (measured with
 * `--optimize-for-size` as well).
 * `--optimize-for-size` saved 4 MB more but made each idle agent burn 0.5 % of a core (40 of
 * them 17–21 % against 0.4 %): not used. It changes how much memory V8 keeps, never what the
 * agent does. Node lets V8 flags change after start (v8.setFlagsFromString); a flag a later V8
 * no longer knows is ignored. The hub, the broker and `sheri up` keep V8's defaults: they carry
 * the swarm's load.
 */
export function leanAgentHeap(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}
