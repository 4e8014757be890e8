import { describe, expect, it } from 'vitest';
import {
  ALWAYS_DENY,
  BASE_POLICY,
  DEFAULT_POLICIES,
  decide,
  matchRule,
  type ShellPolicy,
} from '../../../src/tools/shell/policy.js';
import { SHELLS } from '../../../src/tools/shell/command-rules.js';
import { POLICY_CASES, PROTECTED_PATHS, WORKSPACE } from './policy-cases.js';

const OPTIONS = { workspace: WORKSPACE, protectedPaths: PROTECTED_PATHS };

describe('decide: the command cases', () => {
  for (const { name, role, input, expected } of POLICY_CASES) {
    it(name, () => {
      const { reason, ...rest } = expected;
      const decision = decide(input, DEFAULT_POLICIES[role], OPTIONS);
      expect(decision).toMatchObject(rest);
      if (reason !== undefined) expect(decision.reason).toMatch(reason);
    });
  }
});

describe('decide: options and custom policies', () => {
  it('denies everything when the workspace is not absolute', () => {
    expect(decide('ls', DEFAULT_POLICIES.review, { workspace: 'ws' })).toMatchObject({
      decision: 'deny',
      rule: 'workspace',
    });
  });

  it('applies a custom policy', () => {
    const policy: ShellPolicy = {
      allow: ['make test', 'make *'],
      deny: [],
      ask: ['make deploy *'],
      readOnly: false,
      network: false,
    };
    expect(decide('make test', policy, OPTIONS)).toMatchObject({
      decision: 'allow',
      rule: 'make test',
    });
    expect(decide('make deploy prod', policy, OPTIONS).decision).toBe('ask');
    expect(decide('make lint', policy, OPTIONS)).toMatchObject({
      decision: 'allow',
      rule: 'make *',
    });
    expect(decide('make; sudo x', policy, OPTIONS).decision).toBe('deny');
  });

  it('denies the always-deny rules for a policy that allows everything', () => {
    const policy: ShellPolicy = {
      allow: ['*'],
      deny: [],
      ask: [],
      readOnly: false,
      network: false,
    };
    expect(decide('sudo ls', policy, OPTIONS)).toMatchObject({ decision: 'deny', rule: 'sudo *' });
    expect(decide('git fetch --upload-pack=./x', policy, OPTIONS)).toMatchObject({
      decision: 'deny',
      rule: 'git * --upl* *',
    });
    expect(decide('make test', policy, OPTIONS).decision).toBe('allow');
  });

  it('denies output redirects for any policy marked read-only', () => {
    const policy: ShellPolicy = { allow: ['*'], deny: [], ask: [], readOnly: true, network: false };
    expect(decide('make > out.txt', policy, OPTIONS)).toMatchObject({
      decision: 'deny',
      rule: 'read-only',
    });
    expect(decide('make > /dev/null 2>&1', policy, OPTIONS).decision).toBe('allow');
  });

  it('lets protected paths through when none are given', () => {
    expect(
      decide('cat sheri.config.json', DEFAULT_POLICIES.review, { workspace: WORKSPACE }).decision,
    ).toBe('allow');
  });

  it('names the protected path in the reason', () => {
    expect(decide('cat .sheri/ledger.sqlite', DEFAULT_POLICIES.review, OPTIONS).reason).toContain(
      `${WORKSPACE}/.sheri`,
    );
  });
});

describe('the shipped policies', () => {
  it('marks review, security and monitoring read-only, and only those', () => {
    const readOnly = Object.entries(DEFAULT_POLICIES)
      .filter(([, policy]) => policy.readOnly)
      .map(([role]) => role);
    expect(readOnly.sort()).toEqual(['monitoring', 'review', 'security']);
  });

  it('gives the network to deployment, monitoring and security, and only those', () => {
    const network = Object.entries(DEFAULT_POLICIES)
      .filter(([, policy]) => policy.network)
      .map(([role]) => role);
    expect(network.sort()).toEqual(['deployment', 'monitoring', 'security']);
  });

  it('starts the base policy with the harmless commands only, no network, not read-only', () => {
    expect(BASE_POLICY).toMatchObject({ ask: [], deny: [], readOnly: false, network: false });
    expect(BASE_POLICY.allow).toContain('echo *');
    expect(BASE_POLICY.allow).not.toContain('ls *');
  });

  it('has an always-deny rule for every shell the command rules know', () => {
    for (const shell of SHELLS) expect(ALWAYS_DENY).toContain(`${shell} *`);
  });

  it('keeps the always-deny rules out of the role lists, where a config could remove them', () => {
    for (const policy of Object.values(DEFAULT_POLICIES)) {
      for (const rule of [...policy.allow, ...policy.ask, ...policy.deny])
        expect(ALWAYS_DENY).not.toContain(rule);
    }
  });
});

describe('matchRule', () => {
  const none = (words: string[]): boolean[] => words.map(() => false);
  const matches = (rule: string, words: string[]): boolean =>
    matchRule(rule, words, none(words), 'allow');

  it('matches exact words only, covering the whole argv', () => {
    expect(matches('npm test', ['npm', 'test'])).toBe(true);
    expect(matches('npm test', ['npm', 'test', '--watch'])).toBe(false);
    expect(matches('npm test', ['npm'])).toBe(false);
  });

  it('lets a lone * take zero or more words anywhere', () => {
    expect(matches('git log *', ['git', 'log'])).toBe(true);
    expect(matches('git log *', ['git', 'log', '-5', '--oneline'])).toBe(true);
    expect(matches('find * -exec *', ['find', '.', '-name', 'x', '-exec', 'rm'])).toBe(true);
    expect(matches('find * -exec *', ['find', '.', '-execdir'])).toBe(false);
  });

  it('lets a word ending in * take one word with that prefix', () => {
    expect(matches('npm run test* *', ['npm', 'run', 'test:unit', '-x'])).toBe(true);
    expect(matches('npm run test* *', ['npm', 'run', 'build'])).toBe(false);
  });

  it('matches \\* against a literal * word', () => {
    expect(matches('rm * \\* *', ['rm', '-rf', '*'])).toBe(true);
    expect(matches('rm * \\* *', ['rm', '-rf', 'x'])).toBe(false);
  });

  it('reads ? and [ ] and [! ] inside a word as shell patterns', () => {
    expect(matches('git * clone * -[!-]*u* *', ['git', 'clone', '-qu./x', 'r'])).toBe(true);
    expect(matches('git * clone * -[!-]*u* *', ['git', 'clone', '--quiet', 'r'])).toBe(false);
    expect(matches('ls -?', ['ls', '-a'])).toBe(true);
    expect(matches('ls -?', ['ls', '-ab'])).toBe(false);
    expect(matches('[ *', ['[', '-f', 'x', ']'])).toBe(true);
  });

  it('treats an expanding word as any words when denying, as none when allowing', () => {
    expect(matchRule('find * -delete *', ['find', '.', '$X'], [false, false, true], 'deny')).toBe(
      true,
    );
    expect(matchRule('npm run test', ['npm', 'run', '$X'], [false, false, true], 'allow')).toBe(
      false,
    );
    expect(matchRule('npm run *', ['npm', 'run', '$X'], [false, false, true], 'allow')).toBe(true);
  });
});
