import type { FlowStep } from '../protocol/flow-messages.js';
import { rolesForType, type TaskTypeTable } from '../protocol/task-types.js';
import { httpUrlProblem } from '../protocol/step-specs.js';
import { findPlaceholders, parseExpression, quotedProblem } from './expressions.js';

/** One thing wrong with a flow, at a path of its wire form (`['steps', 2, 'needs', 0]`). */
export interface FlowProblem {
  path: (string | number)[];
  message: string;
}

/**
 * What a flow must satisfy beyond its schema (PROTOCOL §17.1), checked by the CLI before it
 * submits and again by the hub before it records: every step's type is known, every need and
 * `on_failure` names a step, nothing needs itself around a cycle, and every `${{ … }}` names a
 * variable or an output of a step that runs before it.
 */
export function checkFlow(
  flow: { steps: readonly FlowStep[]; vars: Readonly<Record<string, string>> },
  taskTypes: TaskTypeTable,
): FlowProblem[] {
  const problems: FlowProblem[] = [];
  const index = new Map<string, number>();
  flow.steps.forEach((step, i) => {
    if (index.has(step.id)) {
      problems.push({ path: ['steps', i, 'id'], message: `a second step named "${step.id}"` });
    } else index.set(step.id, i);
  });
  const names = [...index.keys()].join(', ');
  const triggers = new Map<string, string[]>();
  flow.steps.forEach((step, i) => {
    const at = (...path: (string | number)[]): (string | number)[] => ['steps', i, ...path];
    if (rolesForType(taskTypes, step.type).length === 0) {
      problems.push({
        path: at('type'),
        message: `unknown task type "${step.type}"; known types: ${Object.keys(taskTypes).join(', ')} (add one under "taskTypes" in sheri.config.json)`,
      });
    }
    const kinds = [
      step.prompt && 'prompt',
      step.http_check && 'http_check',
      (step.commands || step.service) && 'commands/service',
    ].filter(Boolean);
    if (kinds.length > 1) {
      problems.push({
        path: at(),
        message: `a step does one thing: ${kinds.join(' and ')} cannot go together`,
      });
    }
    step.needs.forEach((need, j) => {
      if (need === step.id)
        problems.push({ path: at('needs', j), message: 'a step cannot need itself' });
      else if (!index.has(need)) {
        problems.push({
          path: at('needs', j),
          message: `needs unknown step "${need}" (steps: ${names})`,
        });
      }
    });
    if (step.on_failure !== undefined) {
      if (step.on_failure === step.id) {
        problems.push({ path: at('on_failure'), message: 'a step cannot be its own on_failure' });
      } else if (!index.has(step.on_failure)) {
        problems.push({
          path: at('on_failure'),
          message: `on_failure names unknown step "${step.on_failure}" (steps: ${names})`,
        });
      } else triggers.set(step.on_failure, [...(triggers.get(step.on_failure) ?? []), step.id]);
    }
  });
  for (const [target, by] of triggers) {
    const step = flow.steps[index.get(target)!]!;
    if (step.needs.length > 0) {
      problems.push({
        path: ['steps', index.get(target)!, 'needs'],
        message: `step "${target}" runs when ${by.join(' or ')} fails, so it has no needs of its own`,
      });
    }
  }
  if (problems.length > 0) return problems;
  // A step comes after its needs, and an on_failure step after the steps it rescues.
  const before = new Map<string, string[]>(
    flow.steps.map((step) => [step.id, [...step.needs, ...(triggers.get(step.id) ?? [])]]),
  );
  const cycle = findCycle([...index.keys()], (id) => before.get(id) ?? []);
  if (cycle) {
    problems.push({
      path: ['steps', index.get(cycle[0]!)!, 'needs'],
      message: `the steps wait for each other in a cycle: ${cycle.join(' → ')}`,
    });
    return problems;
  }
  flow.steps.forEach((step, i) => {
    const upstream = ancestors(step.id, before);
    const check = (text: string, shell: boolean, path: (string | number)[]): void => {
      const found = findPlaceholders(text, shell);
      if (typeof found === 'string') return void problems.push({ path, message: found });
      for (const placeholder of found) {
        if (placeholder.quoted) {
          problems.push({ path, message: quotedProblem(placeholder.source) });
          continue;
        }
        const expression = parseExpression(placeholder.source);
        if (typeof expression === 'string') problems.push({ path, message: expression });
        else if (expression.kind === 'var' && !Object.hasOwn(flow.vars, expression.name)) {
          const known = Object.keys(flow.vars);
          problems.push({
            path,
            message: `vars.${expression.name} is not a variable of this flow (${known.length ? `it has ${known.join(', ')}` : 'it declares none'}; declare it under "vars")`,
          });
        } else if (expression.kind === 'output' && !upstream.has(expression.step)) {
          problems.push({
            path,
            message: `steps.${expression.step}.outputs.${expression.output}: ${index.has(expression.step) ? `step "${step.id}" does not wait for "${expression.step}" (add it to needs)` : `there is no step "${expression.step}"`}`,
          });
        }
      }
    };
    step.commands?.forEach((command, j) => check(command, true, ['steps', i, 'commands', j]));
    if (step.prompt) check(step.prompt, false, ['steps', i, 'prompt']);
    if (step.service) check(step.service.command, true, ['steps', i, 'service', 'command']);
    if (step.http_check) {
      const url = step.http_check.url;
      const path = ['steps', i, 'http_check', 'url'];
      check(url, false, path);
      // A URL made of placeholders is checked once they are filled in, before it is asked.
      const problem = url.includes('${{') ? undefined : httpUrlProblem(url);
      if (problem) problems.push({ path, message: problem });
    }
  });
  return problems;
}

/** Every step that finishes before `id` starts. */
function ancestors(id: string, before: ReadonlyMap<string, readonly string[]>): Set<string> {
  const seen = new Set<string>();
  const stack = [...(before.get(id) ?? [])];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    stack.push(...(before.get(next) ?? []));
  }
  return seen;
}

/**
 * A cycle of the graph `edges` (each node to those it waits for) as `[a, b, …, a]`, or
 * undefined. Depth first, iterative: a long chain cannot overflow the stack.
 */
export function findCycle(
  nodes: readonly string[],
  edges: (node: string) => readonly string[],
): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  for (const root of nodes) {
    if (state.has(root)) continue;
    const path: string[] = [];
    const stack: { node: string; next: number }[] = [{ node: root, next: 0 }];
    state.set(root, 'open');
    path.push(root);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const out = edges(frame.node);
      if (frame.next >= out.length) {
        state.set(frame.node, 'done');
        stack.pop();
        path.pop();
        continue;
      }
      const to = out[frame.next++]!;
      const seen = state.get(to);
      if (seen === 'open') return [...path.slice(path.indexOf(to)), to];
      if (seen === undefined) {
        state.set(to, 'open');
        path.push(to);
        stack.push({ node: to, next: 0 });
      }
    }
  }
  return undefined;
}
