import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { findPlaceholders, renderTemplate, shellQuote } from '../../src/flows/expressions.js';
import { renderStep } from '../../src/flows/render-step.js';
import type { FlowSubmit } from '../../src/protocol/flow-messages.js';

/** What bash reads a word back as: printf prints each argument on its own line. */
function bashWords(line: string): string[] {
  return execFileSync('bash', ['--noprofile', '--norc', '-c', `printf '%s\\0' ${line}`], {
    encoding: 'utf8',
  })
    .split('\0')
    .slice(0, -1);
}

const HOSTILE = [
  'a b; rm -rf ~',
  "'; touch pwned; '",
  '"$(touch pwned)"',
  '`touch pwned`',
  '$HOME',
  '~',
  'x=y',
  '*',
  'line\nbreak',
  '',
  "it's",
];

describe('${{ … }} in commands (PROTOCOL §17.1)', () => {
  it('quotes each value as one shell word that bash reads back as exactly the value', () => {
    for (const value of HOSTILE) {
      expect(bashWords(shellQuote(value)), JSON.stringify(value)).toEqual([value]);
    }
  });

  it('leaves plain words as they are, so commands stay readable', () => {
    expect(shellQuote('http://127.0.0.1:4312/health')).toBe('http://127.0.0.1:4312/health');
    expect(shellQuote('1.2.0')).toBe('1.2.0');
  });

  it('does not let a value with shell syntax run as code in a rendered command', () => {
    const rendered = renderTemplate('echo --url=${{ vars.x }} done', true, () => ({
      value: '$(touch pwned); `id`',
    }));
    expect(rendered).toEqual({ text: `echo --url='$(touch pwned); \`id\`' done` });
    expect(bashWords(`--url='$(touch pwned); \`id\`' done`)).toEqual([
      '--url=$(touch pwned); `id`',
      'done',
    ]);
  });

  it('marks placeholders inside quotes, and only those', () => {
    const found = findPlaceholders(
      `a \${{ vars.a }} "b \${{ vars.b }}" 'c \${{ vars.c }}' $'d \${{ vars.d }}' \\"\${{ vars.e }}`,
      true,
    );
    expect(typeof found === 'string' ? found : found.map((p) => [p.source, p.quoted])).toEqual([
      ['vars.a', false],
      ['vars.b', true],
      ['vars.c', true],
      ['vars.d', true],
      ['vars.e', false],
    ]);
  });

  it('refuses to render a quoted placeholder of a flow that came from elsewhere', () => {
    expect(renderTemplate('echo "${{ vars.x }}"', true, () => ({ value: 'x' }))).toEqual({
      error: expect.stringMatching(/stands inside quotes/),
    });
  });

  it('fills a prompt or a URL as plain text', () => {
    expect(
      renderTemplate('${{ steps.deploy.outputs.url }}/health', false, () => ({
        value: 'http://h:1',
      })),
    ).toEqual({
      text: 'http://h:1/health',
    });
  });
});

describe('rendering a step into its task', () => {
  const flow: FlowSubmit = {
    flow_id: 'f-1',
    name: 'f',
    vars: { version: '2.0.0' },
    steps: [],
  };

  it('names the output a step lacks instead of rendering an empty string', () => {
    const step = {
      id: 'health',
      type: 'monitoring.health',
      payload: {},
      needs: ['deploy'],
      http_check: {
        url: '${{ steps.deploy.outputs.url }}/health',
        expect_status: 200,
        attempts: 1,
        interval_ms: 0,
        timeout_ms: 100,
      },
    };
    expect(renderStep(flow, step, () => ({ release: 'r1' }), { triggered: false })).toEqual({
      error:
        'http_check.url: steps.deploy.outputs.url: step "deploy" has no output "url" (its outputs: release)',
    });
  });

  it('refuses an output beginning with "-" in a command, and renders one in a prompt, as it does a variable beginning with "-" in a command', () => {
    const step = {
      id: 'use',
      type: 'testing.run',
      payload: {},
      needs: ['pick'],
      commands: ['git clone ${{ steps.pick.outputs.repo }} ${{ vars.dir }}'],
    };
    const dashed = { ...flow, vars: { dir: '-v' } };
    expect(
      renderStep(dashed, step, () => ({ repo: '--upload-pack=touch pwned' }), { triggered: false }),
    ).toEqual({
      error:
        'commands[0]: steps.pick.outputs.repo begins with "-" ("--upload-pack=touch pwned"): a step\'s output is refused in a command where it could be read as an option',
    });
    expect(
      renderStep(dashed, step, () => ({ repo: 'https://h/r.git' }), { triggered: false }),
    ).toEqual({ spec: expect.objectContaining({ commands: ['git clone https://h/r.git -v'] }) });
    const prompt = {
      ...step,
      commands: undefined,
      prompt: 'Summarize ${{ steps.pick.outputs.repo }}',
    };
    expect(renderStep(flow, prompt, () => ({ repo: '-x' }), { triggered: false })).toEqual({
      spec: expect.objectContaining({ prompt: 'Summarize -x' }),
    });
  });

  it('gives the task its needs, attempts and flow, and an on_failure step no needs', () => {
    const step = {
      id: 'build',
      type: 'deployment.deploy',
      payload: {},
      needs: ['prep'],
      retries: 1,
      commands: ['npm run build -- ${{ vars.version }}'],
    };
    const rendered = renderStep(flow, step, () => ({}), { triggered: false });
    expect(rendered).toEqual({
      spec: expect.objectContaining({
        task_id: 'f-1.build',
        commands: ['npm run build -- 2.0.0'],
        needs: ['f-1.prep'],
        max_attempts: 2,
        flow_id: 'f-1',
        flow_step: 'build',
      }),
    });
    const triggered = renderStep(flow, step, () => ({}), { triggered: true });
    expect('spec' in triggered && triggered.spec.needs).toBeUndefined();
  });
});
