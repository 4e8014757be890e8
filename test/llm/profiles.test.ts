import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { buildSystemPrompt, loadProfile } from '../../src/llm/profiles.js';
import { DEFAULT_ROLES, DEFAULT_TASK_TYPES } from '../../src/protocol/task-types.js';

let dir: string | undefined;
afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

describe('role profiles', () => {
  it('ships one for every default role, each with the four sections', () => {
    for (const role of DEFAULT_ROLES) {
      const profile = loadProfile(role);
      expect(profile.source).toMatch(new RegExp(`profiles/${role}\\.md$`));
      for (const section of [
        '## Identity',
        '## Responsibilities',
        '## What you may decide alone',
        '## When to escalate',
      ]) {
        expect(profile.text, `${role} lacks ${section}`).toContain(section);
      }
    }
  });

  it('takes a role profile from the folder the config file names, relative to that file', () => {
    dir = mkdtempSync(join(tmpdir(), 'sheri-profiles-'));
    mkdirSync(join(dir, 'team-profiles'));
    writeFileSync(join(dir, 'team-profiles/review.md'), '# review\nYou review Go code only.\n');
    writeFileSync(join(dir, 'sheri.config.json'), JSON.stringify({ profilesDir: 'team-profiles' }));
    const config = loadConfig({ config: join(dir, 'sheri.config.json') }, {});
    expect(config.profilesDir).toBe(join(dir, 'team-profiles'));
    expect(loadProfile('review', config.profilesDir)).toEqual({
      text: '# review\nYou review Go code only.',
      source: join(dir, 'team-profiles/review.md'),
    });
    // A role the folder lacks keeps the shipped profile; a role nobody wrote gets a plain line.
    expect(loadProfile('testing', config.profilesDir).text).toContain('You run and judge tests');
    expect(loadProfile('qa', config.profilesDir)).toMatchObject({ source: 'built-in' });
  });

  it('builds the system prompt from the profile and where the agent works', () => {
    const facts = {
      agentId: 'review-1a2b3c',
      role: 'review',
      swarm: 'demo',
      workspace: '/srv/repo',
      taskTypes: DEFAULT_TASK_TYPES,
    };
    const prompt = buildSystemPrompt(loadProfile('review'), { ...facts, canDelegate: true });
    expect(prompt).toMatch(/^# review\n/);
    expect(prompt).toContain('You are agent review-1a2b3c (role review) in the swarm "demo"');
    expect(prompt).toContain('Your workspace is /srv/repo');
    expect(prompt).toContain('- testing.run: testing');
    const deepest = buildSystemPrompt(loadProfile('review'), { ...facts, canDelegate: false });
    expect(deepest).not.toContain('- testing.run: testing');
    expect(deepest).toContain('do not delegate further');
  });
});
