import type { FlowStep, FlowSubmit } from '../protocol/flow-messages.js';
import { TaskSpec } from '../protocol/messages.js';
import { formatIssues } from '../protocol/codec.js';
import { renderTemplate, type Expression } from './expressions.js';

/** A step's task id: `<flow id>.<step id>`, unique for ever as task ids are (PROTOCOL §17.2). */
export function stepTaskId(flowId: string, stepId: string): string {
  return `${flowId}.${stepId}`;
}

/**
 * The task a step becomes once it may start (PROTOCOL §17.2): its `${{ … }}` filled in — values
 * quoted as one shell word in commands — its needs' task ids as `needs` (so the grant carries
 * their results as inputs), `retries + 1` attempts. An on_failure step needs nothing: the step
 * it rescues is dead, and a dead need would kill it. An output a step does not have is an error,
 * never an empty string.
 *
 * A step's output is what its task wrote (a command, or a model a file in the workspace steered),
 * so in a command one beginning with `-` fails the step: quoted as one word it is still read as an
 * option (`git clone ${{ steps.pick.outputs.repo }}` with `--upload-pack=touch pwned` runs code).
 * A variable is the flow's submitter's own word and is rendered as it is.
 */
export function renderStep(
  flow: FlowSubmit,
  step: FlowStep,
  outputsOf: (stepId: string) => Record<string, string> | undefined,
  options: { triggered: boolean },
): { spec: TaskSpec } | { error: string } {
  const resolve = (expression: Expression): { value: string } | { error: string } => {
    switch (expression.kind) {
      case 'var':
        return Object.hasOwn(flow.vars, expression.name)
          ? { value: flow.vars[expression.name]! }
          : { error: `vars.${expression.name} is not a variable of this flow` };
      case 'flow':
        return { value: expression.field === 'id' ? flow.flow_id : flow.name };
      case 'output': {
        const outputs = outputsOf(expression.step);
        if (outputs && Object.hasOwn(outputs, expression.output)) {
          return { value: outputs[expression.output]! };
        }
        const has = outputs ? Object.keys(outputs) : [];
        return {
          error: `steps.${expression.step}.outputs.${expression.output}: step "${expression.step}" has no output "${expression.output}" (${has.length ? `its outputs: ${has.join(', ')}` : 'it set none'})`,
        };
      }
    }
  };
  const resolveInCommand = (expression: Expression): { value: string } | { error: string } => {
    const resolved = resolve(expression);
    if (expression.kind === 'output' && 'value' in resolved && resolved.value.startsWith('-')) {
      return {
        error: `steps.${expression.step}.outputs.${expression.output} begins with "-" (${JSON.stringify(resolved.value.slice(0, 40))}): a step's output is refused in a command where it could be read as an option`,
      };
    }
    return resolved;
  };
  const render = (text: string, shell: boolean, where: string): string => {
    const done = renderTemplate(text, shell, shell ? resolveInCommand : resolve);
    if ('error' in done) throw new RenderError(`${where}: ${done.error}`);
    return done.text;
  };
  try {
    const spec = {
      task_id: stepTaskId(flow.flow_id, step.id),
      type: step.type,
      payload: step.payload,
      ...((step.priority ?? flow.priority) ? { priority: step.priority ?? flow.priority } : {}),
      ...(step.commands
        ? { commands: step.commands.map((c, i) => render(c, true, `commands[${i}]`)) }
        : {}),
      ...(step.prompt ? { prompt: render(step.prompt, false, 'prompt') } : {}),
      ...(step.service
        ? {
            service: {
              ...step.service,
              command: render(step.service.command, true, 'service.command'),
            },
          }
        : {}),
      ...(step.http_check
        ? {
            http_check: {
              ...step.http_check,
              url: render(step.http_check.url, false, 'http_check.url'),
            },
          }
        : {}),
      ...(!options.triggered && step.needs.length > 0
        ? { needs: step.needs.map((need) => stepTaskId(flow.flow_id, need)) }
        : {}),
      ...(step.retries !== undefined ? { max_attempts: step.retries + 1 } : {}),
      ...(step.timeout_ms !== undefined ? { timeout_ms: step.timeout_ms } : {}),
      ...(step.workspace ? { workspace: step.workspace } : {}),
      flow_id: flow.flow_id,
      flow_step: step.id,
    };
    const parsed = TaskSpec.safeParse(spec);
    if (!parsed.success) return { error: `its task is invalid: ${formatIssues(parsed.error)}` };
    return { spec: parsed.data };
  } catch (error) {
    if (error instanceof RenderError) return { error: error.message };
    throw error;
  }
}

class RenderError extends Error {}
