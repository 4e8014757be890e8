import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../src/config/load.js';
import type { LlmFileSettings } from '../../src/llm/settings.js';
import type { TaskSpec } from '../../src/protocol/messages.js';
import type { BusRecorder } from './bus-recorder.js';
import { FakeLlmServer, type FakeOptions, type ScriptEntry } from './fake-llm-server.js';
import { fakeLlm, makeReviewRepo } from './llm-swarm.js';
import { TestSwarm } from './swarm.js';

export interface Outcome {
  complete: Record<string, unknown> | undefined;
  failed: Record<string, unknown>[];
  dead: Record<string, unknown> | undefined;
}

/**
 * A swarm (embedded broker, hub, recorder) with one prompt-task agent on the fake LLM server,
 * working in a small git repository: what every test of the LLM loop starts from.
 */
export class LlmTaskHarness {
  readonly swarm = new TestSwarm();
  recorder!: BusRecorder;
  fake!: FakeLlmServer;
  readonly repo = join(this.swarm.dir, 'repo');

  static async start(
    script: ScriptEntry[],
    options: {
      fake?: FakeOptions;
      settings?: LlmFileSettings;
      api?: 'anthropic' | 'openai';
      role?: string;
      config?: Partial<Config>;
      hub?: Partial<Config>;
      agent?: boolean;
    } = {},
  ): Promise<LlmTaskHarness> {
    const harness = new LlmTaskHarness();
    const { swarm } = harness;
    await swarm.startBroker();
    await swarm.startHub(options.hub);
    harness.recorder = await swarm.record();
    harness.fake = await FakeLlmServer.start(script, options.fake);
    swarm.onClose(() => harness.fake.close());
    mkdirSync(harness.repo);
    makeReviewRepo(harness.repo);
    if (options.agent !== false) {
      await swarm.startAgent(
        options.role ?? 'review',
        {
          ...fakeLlm(harness.fake, options.settings, options.api ? { api: options.api } : {}),
          ...options.config,
        },
        1,
        harness.repo,
      );
    }
    return harness;
  }

  async submit(spec: Partial<TaskSpec> & { task_id: string }): Promise<void> {
    await this.swarm.submit([{ type: 'code.review', payload: {}, prompt: 'Go', ...spec }]);
  }

  /** The task's outcome: its complete message, its failed attempts, its dead letter. */
  async outcomeOf(taskId: string, timeoutMs = 20_000): Promise<Outcome> {
    const { recorder } = this;
    await recorder.waitFor(
      () =>
        recorder.on('tasks/complete').some((m) => m.payload.task_id === taskId) ||
        recorder.on('tasks/dead').some((m) => m.payload.task_id === taskId),
      timeoutMs,
    );
    const of = (topic: string) => recorder.on(topic).filter((m) => m.payload.task_id === taskId);
    return {
      complete: of('tasks/complete')[0]?.payload,
      failed: of('tasks/failed').map((m) => m.payload),
      dead: of('tasks/dead')[0]?.payload,
    };
  }

  progressOf(taskId: string): string[] {
    return this.recorder
      .on('tasks/progress')
      .filter((m) => m.payload.task_id === taskId)
      .map((m) => String(m.payload.message));
  }

  close(): Promise<void> {
    return this.swarm.close();
  }
}
