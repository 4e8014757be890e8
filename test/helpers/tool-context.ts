import type { ToolContext } from '../../src/tools/registry.js';

/** A ToolContext for the file tools alone: the swarm services answer "unused". */
export function fileToolContext(
  workspace: string,
  protectedPaths: readonly string[] = [],
  signal: AbortSignal = new AbortController().signal,
): ToolContext {
  return {
    workspace,
    protectedPaths,
    signal,
    runShell: async () => ({ content: 'unused' }),
    publishEvent: async () => ({ content: 'unused' }),
    progress: () => undefined,
    delegate: async () => ({ content: 'unused' }),
  };
}
