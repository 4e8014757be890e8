import { describe, expect, it } from 'vitest';
import { FlowFileError, parseFlow } from '../../src/flows/load-flow.js';
import { DEFAULT_TASK_TYPES } from '../../src/protocol/task-types.js';
import { deployFlow } from '../helpers/flows.js';

const options = { taskTypes: DEFAULT_TASK_TYPES };

/** The problems a flow file is refused with: line and message, as the CLI prints them. */
function refusal(
  text: string,
  vars: Record<string, string> = {},
): { line?: number; where: string; message: string }[] {
  try {
    parseFlow(text, 'flow.yaml', { ...options, vars });
  } catch (error) {
    if (error instanceof FlowFileError) return error.problems;
    throw error;
  }
  throw new Error('the flow file was accepted');
}

const GOOD = `name: ok
steps:
  build:
    type: deployment.deploy
    commands: npm run build
  test:
    type: testing.run
    needs: build
    commands: [npm test]
`;

describe('reading a flow file (PROTOCOL §17.1)', () => {
  it('reads the example deploy flow: seven steps, rollback on a failed health check', () => {
    const flow = deployFlow({ version: '2.0.0' });
    expect(flow.steps.map((step) => step.id)).toEqual([
      'build',
      'test',
      'scan',
      'deploy',
      'health',
      'rollback',
      'recheck',
    ]);
    expect(flow.vars).toEqual({ version: '2.0.0' });
    const health = flow.steps.find((step) => step.id === 'health')!;
    expect(health).toMatchObject({ on_failure: 'rollback', retries: 0, needs: ['deploy'] });
    expect(health.http_check).toMatchObject({ attempts: 3, interval_ms: 500, expect_status: 200 });
    const deploy = flow.steps.find((step) => step.id === 'deploy')!;
    expect(deploy.service).toMatchObject({ name: 'example-service', ready_timeout_ms: 30_000 });
  });

  it('reads JSON as well as YAML', () => {
    const json = JSON.stringify({
      name: 'j',
      steps: { a: { type: 'testing.run', commands: ['true'] } },
    });
    expect(parseFlow(json, 'flow.json', options).steps[0]).toMatchObject({ id: 'a', needs: [] });
  });

  it('refuses a YAML syntax error, naming its line', () => {
    // yaml names where it noticed: the unclosed sequence runs to the end of the file.
    expect(refusal(`${GOOD}  broken: [unclosed\n`)).toEqual([
      expect.objectContaining({
        line: 11,
        message: expect.stringMatching(/must be sufficiently indented and end with a \]/),
      }),
    ]);
  });

  it('refuses a step named twice, naming the second', () => {
    expect(refusal(`${GOOD}  test:\n    type: testing.run\n`)).toEqual([
      expect.objectContaining({ line: 10, message: 'Map keys must be unique' }),
    ]);
  });

  it('refuses a misspelt key, naming its line', () => {
    const problems = refusal(GOOD.replace('    needs: build', '    neds: build'));
    expect(problems).toEqual([
      expect.objectContaining({ line: 8, where: 'steps.test', message: 'unknown key "neds"' }),
    ]);
  });

  it('refuses a cycle, naming the steps around it', () => {
    const text = GOOD.replace(
      '    commands: npm run build',
      '    commands: npm run build\n    needs: test',
    );
    expect(refusal(text)).toEqual([
      expect.objectContaining({
        line: 6,
        message: 'the steps wait for each other in a cycle: build → test → build',
      }),
    ]);
  });

  it('refuses a need that names no step, saying which steps there are', () => {
    expect(refusal(GOOD.replace('needs: build', 'needs: bild'))).toEqual([
      expect.objectContaining({
        line: 8,
        where: 'steps.test.needs[0]',
        message: 'needs unknown step "bild" (steps: build, test)',
      }),
    ]);
  });

  it('refuses an unknown task type, naming its line', () => {
    expect(refusal(GOOD.replace('type: testing.run', 'type: testing.runn'))).toEqual([
      expect.objectContaining({
        line: 7,
        where: 'steps.test.type',
        message: expect.stringMatching(/^unknown task type "testing.runn"; known types: /),
      }),
    ]);
  });

  it('refuses a variable the flow does not declare', () => {
    const text = GOOD.replace('npm run build', 'npm run build -- ${{ vars.version }}');
    expect(refusal(text)).toEqual([
      expect.objectContaining({
        line: 5,
        where: 'steps.build.commands[0]',
        message: expect.stringMatching(
          /^vars.version is not a variable of this flow \(it declares none/,
        ),
      }),
    ]);
  });

  it('refuses a --var the flow does not declare, and a variable left without a value', () => {
    const text = `vars:\n  version: ~\n${GOOD}`;
    expect(refusal(text, { verison: '1' })).toEqual([
      expect.objectContaining({
        where: '--var verison',
        message: expect.stringMatching(/declares no variable "verison" \(it has version\)/),
      }),
      expect.objectContaining({
        where: 'vars.version',
        message: 'has no default: pass --var version=…',
      }),
    ]);
  });

  it('refuses an expression it does not know', () => {
    const text = GOOD.replace('npm run build', 'npm run build ${{ env.HOME }}');
    expect(refusal(text)).toEqual([
      expect.objectContaining({
        line: 5,
        message: expect.stringMatching(/is not an expression sheri knows/),
      }),
    ]);
  });

  it('refuses an output of a step that does not run before', () => {
    const text = GOOD.replace('npm run build', 'echo ${{ steps.test.outputs.report }}');
    expect(refusal(text)).toEqual([
      expect.objectContaining({
        line: 5,
        message:
          'steps.test.outputs.report: step "build" does not wait for "test" (add it to needs)',
      }),
    ]);
  });

  it('refuses a placeholder inside quotes, where its value could end the quote', () => {
    for (const command of [
      `echo "\${{ vars.v }}"`,
      `echo '\${{ vars.v }}'`,
      `echo $'\${{ vars.v }}'`,
    ]) {
      const text = `vars:\n  v: x\nname: q\nsteps:\n  a:\n    type: testing.run\n    commands:\n      - ${JSON.stringify(command)}\n`;
      expect(refusal(text)).toEqual([
        expect.objectContaining({
          line: 8,
          message: expect.stringMatching(/stands inside quotes/),
        }),
      ]);
    }
  });

  it('refuses an on_failure step that names no step, or that has needs of its own', () => {
    expect(
      refusal(GOOD.replace('    needs: build', '    needs: build\n    on_failure: undo')),
    ).toEqual([
      expect.objectContaining({
        line: 9,
        message: 'on_failure names unknown step "undo" (steps: build, test)',
      }),
    ]);
    const rescuer = `${GOOD}    on_failure: rollback\n  rollback:\n    type: deployment.rollback\n    needs: build\n    commands: npm run deploy:rollback\n`;
    expect(refusal(rescuer)).toEqual([
      expect.objectContaining({
        line: 13,
        message: 'step "rollback" runs when test fails, so it has no needs of its own',
      }),
    ]);
  });

  it('refuses an http_check of a URL with a password, or not over HTTP', () => {
    for (const url of ['http://user:secret@127.0.0.1/health', 'file:///etc/passwd']) {
      const text = `name: h\nsteps:\n  check:\n    type: monitoring.health\n    http_check:\n      url: ${url}\n`;
      expect(refusal(text)).toEqual([
        expect.objectContaining({ line: 6, where: 'steps.check.http_check.url' }),
      ]);
    }
  });

  it('refuses a step that does two things at once', () => {
    const text = `name: t\nsteps:\n  a:\n    type: monitoring.health\n    commands: "true"\n    http_check:\n      url: http://127.0.0.1/\n`;
    expect(refusal(text)).toEqual([
      expect.objectContaining({
        line: 3,
        message: 'a step does one thing: http_check and commands/service cannot go together',
      }),
    ]);
  });
});
