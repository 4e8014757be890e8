import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, SheriError } from '../errors.js';
import type { TaskTypeTable } from '../protocol/task-types.js';
import { readSettingsFile } from '../util/settings-file.js';

/** A profile is a system prompt: 256 KiB is ~64k tokens, far past any sensible one. */
export const MAX_PROFILE_BYTES = 256 * 1024;

export interface RoleProfile {
  text: string;
  /** The file it came from, or "built-in" for a role with no file. */
  source: string;
}

/** The shipped `profiles/` folder: found upwards from here, as src/ and dist/src/ differ in depth. */
function shippedProfilesDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'profiles');
    if (existsSync(join(candidate, 'general.md'))) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

/**
 * A role's profile: the user's `<profilesDir>/<role>.md`, else the shipped one, else a stub line.
 * One that is there but not a readable regular file of at most MAX_PROFILE_BYTES (a FIFO would
 * hang the start) stops the start with exit 4, naming it.
 */
export function loadProfile(role: string, profilesDir?: string): RoleProfile {
  for (const dir of [profilesDir, shippedProfilesDir()]) {
    if (!dir) continue;
    const file = join(dir, `${role}.md`);
    let text: string;
    try {
      text = readSettingsFile(file, MAX_PROFILE_BYTES);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new SheriError(
        `the ${role} profile ${file} cannot be used: ${(error as Error).message}`,
        EXIT.config,
      );
    }
    return { text: text.trim(), source: file };
  }
  return {
    text: `# ${role}\n\nYou are the ${role} agent of the swarm. Do the task you are given, carefully.`,
    source: 'built-in',
  };
}

export interface PromptFacts {
  agentId: string;
  role: string;
  swarm: string;
  workspace: string;
  taskTypes: TaskTypeTable;
  /** Whether delegate_task may be offered (depth limit not reached). */
  canDelegate: boolean;
}

/** The system prompt: the role's profile, then the facts of where and how the agent works. */
export function buildSystemPrompt(profile: RoleProfile, facts: PromptFacts): string {
  const others = Object.entries(facts.taskTypes)
    .map(([type, roles]) => `- ${type}: ${roles.join(', ')}`)
    .join('\n');
  return `${profile.text}

# How you work
You are agent ${facts.agentId} (role ${facts.role}) in the swarm "${facts.swarm}", one of several
agents that coordinate over MQTT. Your workspace is ${facts.workspace}; every path you give a tool
is relative to it, and nothing outside it can be read or written.
- Shell commands run through a guarded runner: your role's policy allows, denies or asks a person
  about each command. A denied command comes back as an error; do not try to work around it.
- Report progress with report_progress on long tasks; publish events others should see with
  publish_event.
${
  facts.canDelegate
    ? `- Hand work that belongs to another role to it with delegate_task, and use its result. Task
  types and the roles that run them:
${others}`
    : '- You are running a delegated subtask at the depth limit: do not delegate further.'
}
When you are done, answer with your final result as plain text, without calling a tool.`;
}
