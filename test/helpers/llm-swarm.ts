import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../src/config/load.js';
import { buildLlmConfig, type LlmFileSettings } from '../../src/llm/settings.js';
import type { FakeLlmServer } from './fake-llm-server.js';

/**
 * Config overrides that point an agent at the fake server: the real @anthropic-ai/sdk (or our
 * OpenAI-compatible client) talking HTTP to 127.0.0.1, with short retry waits.
 */
export function fakeLlm(
  fake: FakeLlmServer,
  settings: LlmFileSettings = {},
  options: { api?: 'anthropic' | 'openai'; apiKey?: string } = {},
): Partial<Config> {
  const api = options.api ?? 'anthropic';
  const file: LlmFileSettings =
    api === 'anthropic'
      ? { provider: 'anthropic', baseUrl: fake.anthropicBaseUrl, retryBaseMs: 20, ...settings }
      : {
          provider: 'openai',
          baseUrl: fake.openaiBaseUrl,
          model: 'llama-test',
          retryBaseMs: 20,
          ...settings,
        };
  const env: Record<string, string> = {
    ANTHROPIC_API_KEY: options.apiKey ?? 'test-key',
    ...(options.apiKey && api === 'openai' ? { OPENAI_API_KEY: options.apiKey } : {}),
  };
  return { llm: buildLlmConfig(file, {}, (name) => env[name]) };
}

/** A small git repository with one uncommitted change, for review tasks. */
export function makeReviewRepo(dir: string): void {
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(
    join(dir, 'src/lease.ts'),
    'export function renew(attempt: number) {\n  return attempt;\n}\n',
  );
  writeFileSync(join(dir, 'src/claim.ts'), 'export const claim = () => "first claim wins";\n');
  const git = (...args: string[]): void => {
    execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], {
      cwd: dir,
      stdio: 'ignore',
    });
  };
  git('init', '-q');
  git('add', '.');
  git('commit', '-q', '-m', 'initial');
  writeFileSync(
    join(dir, 'src/lease.ts'),
    'export function renew(attempt: number) {\n  return attempt - 1; // stale\n}\n',
  );
}
