import { execFileSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';

/**
 * Tests that need a system tool skip without it on a developer's machine, but must fail in CI,
 * where .ci/run installs it.
 */
export function requireTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env.CI)
      throw new Error(`${name} is not installed, and CI must run this test (see .ci/run)`);
    return false;
  }
}

/** A free TCP port on 127.0.0.1, for programs (mosquitto) that cannot be told to pick one. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const LLM_VARIABLES = [
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_BASE_URL',
  'OPENAI_API_KEY',
  'SHERI_LLM',
  'SHERI_MODEL',
  'SHERI_LLM_BASE_URL',
];

export function withoutLlmSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of LLM_VARIABLES) delete copy[name];
  return copy;
}
