import { readFileSync } from 'node:fs';
import { isMap, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { FlowDefinition, type FlowStep } from '../protocol/flow-messages.js';
import type { TaskTypeTable } from '../protocol/task-types.js';
import { checkFlow, type FlowProblem } from './check-flow.js';
import { FlowFile, type FileStep } from './flow-file.js';

export { FlowDefinition };

/** Something wrong with a flow file, with the line it is on when it has one. */
export interface FileProblem {
  line?: number;
  column?: number;
  /** Where in the file: `steps.deploy.needs[0]`. */
  where: string;
  message: string;
}

/** A flow file that cannot be submitted: every problem found, each with its line. */
export class FlowFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: FileProblem[],
  ) {
    super(
      `flow file ${file} is refused:\n${problems
        .map(
          (p) =>
            `  ${p.line ? `line ${p.line}` : '(no line)'}: ${p.where ? `${p.where}: ` : ''}${p.message}`,
        )
        .join('\n')}`,
    );
    this.name = 'FlowFileError';
  }
}

export interface LoadOptions {
  /** `--var k=v`: each must be a variable the flow declares. */
  vars?: Readonly<Record<string, string>>;
  taskTypes: TaskTypeTable;
}

export function readFlowFile(path: string, options: LoadOptions): FlowDefinition {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FlowFileError(path, [
      { where: '', message: `cannot read it: ${(error as Error).message}` },
    ]);
  }
  return parseFlow(text, path, options);
}

/**
 * Parse, validate and check a flow file (PROTOCOL §17.1). Nothing is submitted from a file with
 * a problem: a YAML error, a key the schema does not know, an unknown type or step, a cycle, an
 * undeclared variable. Throws FlowFileError naming each problem's line.
 */
export function parseFlow(text: string, file: string, options: LoadOptions): FlowDefinition {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new FlowFileError(
      file,
      doc.errors.map((error) => ({
        ...position(lines, error.pos[0]),
        where: '',
        message: error.message.split('\n')[0]!,
      })),
    );
  }
  const locate = (path: (string | number)[]): Pick<FileProblem, 'line' | 'column'> =>
    lineOf(doc, lines, path);
  const parsed = FlowFile.safeParse(doc.toJS());
  if (!parsed.success) {
    throw new FlowFileError(file, issuesOf(parsed.error, locate));
  }
  const flow = parsed.data;
  const { vars, problems: varProblems } = mergeVars(flow.vars ?? {}, options.vars ?? {});
  const stepIds = Object.keys(flow.steps);
  const definition = FlowDefinition.safeParse({
    name: flow.name,
    file,
    vars,
    steps: stepIds.map((id) => toWireStep(id, flow.steps[id]!)),
    ...(flow.schedule ? { schedule: toWireSchedule(flow.schedule) } : {}),
    ...(flow.priority ? { priority: flow.priority } : {}),
  });
  if (!definition.success) {
    // The file's schema admits only what the wire's does; a mismatch is a bug worth naming.
    throw new FlowFileError(
      file,
      issuesOf(definition.error, () => ({})),
    );
  }
  const problems = [
    ...varProblems,
    ...checkFlow(definition.data, options.taskTypes).map((problem) =>
      fileProblemOf(problem, stepIds, locate),
    ),
  ];
  if (problems.length > 0) throw new FlowFileError(file, problems);
  return definition.data;
}

/** Declared defaults, then `--var`; a variable with no value, or one not declared, is refused. */
function mergeVars(
  declared: Readonly<Record<string, string | number | boolean | null>>,
  given: Readonly<Record<string, string>>,
): { vars: Record<string, string>; problems: FileProblem[] } {
  const vars: Record<string, string> = {};
  const problems: FileProblem[] = [];
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(declared, name)) {
      const known = Object.keys(declared);
      problems.push({
        where: `--var ${name}`,
        message: `the flow declares no variable "${name}" (${known.length ? `it has ${known.join(', ')}` : 'it declares none'})`,
      });
    }
  }
  for (const [name, value] of Object.entries(declared)) {
    const chosen = Object.hasOwn(given, name) ? given[name] : value;
    if (chosen === null || chosen === undefined) {
      problems.push({ where: `vars.${name}`, message: `has no default: pass --var ${name}=…` });
    } else vars[name] = String(chosen);
  }
  return { vars, problems };
}

function toWireStep(id: string, step: FileStep): FlowStep {
  const list = (value: string | string[] | undefined): string[] | undefined =>
    value === undefined ? undefined : Array.isArray(value) ? value : [value];
  return {
    id,
    type: step.type,
    payload: step.payload ?? {},
    needs: list(step.needs) ?? [],
    ...(step.commands ? { commands: list(step.commands) } : {}),
    ...(step.prompt ? { prompt: step.prompt } : {}),
    ...(step.service
      ? {
          service: {
            name: step.service.name,
            command: step.service.command,
            ...(step.service.ready_path ? { ready_path: step.service.ready_path } : {}),
            ...(step.service.ready_timeout !== undefined
              ? { ready_timeout_ms: step.service.ready_timeout }
              : {}),
          },
        }
      : {}),
    ...(step.http_check
      ? {
          http_check: {
            url: step.http_check.url,
            ...(step.http_check.expect_status !== undefined
              ? { expect_status: step.http_check.expect_status }
              : {}),
            ...(step.http_check.expect_body ? { expect_body: step.http_check.expect_body } : {}),
            ...(step.http_check.attempts !== undefined
              ? { attempts: step.http_check.attempts }
              : {}),
            ...(step.http_check.interval !== undefined
              ? { interval_ms: step.http_check.interval }
              : {}),
            ...(step.http_check.timeout !== undefined
              ? { timeout_ms: step.http_check.timeout }
              : {}),
          },
        }
      : {}),
    ...(step.on_failure ? { on_failure: step.on_failure } : {}),
    ...(step.timeout !== undefined ? { timeout_ms: Math.max(1, step.timeout) } : {}),
    ...(step.retries !== undefined ? { retries: step.retries } : {}),
    ...(step.priority ? { priority: step.priority } : {}),
    ...(step.workspace ? { workspace: step.workspace } : {}),
  } as FlowStep;
}

function toWireSchedule(schedule: NonNullable<FlowFile['schedule']>): FlowDefinition['schedule'] {
  return {
    ...(schedule.cron ? { cron: schedule.cron } : {}),
    ...(schedule.every !== undefined ? { every_ms: schedule.every } : {}),
    ...(schedule.timezone ? { timezone: schedule.timezone } : {}),
    missed: schedule.missed ?? 'latest',
  };
}

/** zod's issues as problems of the file, each at the line of the node it is about. */
function issuesOf(
  error: z.ZodError,
  locate: (path: (string | number)[]) => Pick<FileProblem, 'line' | 'column'>,
): FileProblem[] {
  return error.issues.slice(0, 20).map((issue) => {
    const path = issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part));
    // An unknown key is named by zod on its parent: point at the key itself.
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    const at = keys.length > 0 ? [...path, keys[0]!] : path;
    return {
      ...locate(at),
      where: formatPath(path),
      message:
        keys.length > 0
          ? `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`
          : issue.message,
    };
  });
}

/** A problem of the wire form (`steps[2]`) located in the file (`steps.deploy`). */
function fileProblemOf(
  problem: FlowProblem,
  stepIds: readonly string[],
  locate: (path: (string | number)[]) => Pick<FileProblem, 'line' | 'column'>,
): FileProblem {
  const [head, index, ...rest] = problem.path;
  const path =
    head === 'steps' && typeof index === 'number'
      ? [
          'steps',
          stepIds[index] ?? index,
          ...rest.map((part) => WIRE_TO_FILE[String(part)] ?? part),
        ]
      : problem.path;
  return { ...locate(path), where: formatPath(path), message: problem.message };
}

const WIRE_TO_FILE: Record<string, string> = {
  timeout_ms: 'timeout',
  ready_timeout_ms: 'ready_timeout',
  interval_ms: 'interval',
};

/** `steps.deploy.needs[0]` */
export function formatPath(path: readonly (string | number)[]): string {
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
}

/**
 * The line of the node at `path`, or of its nearest ancestor that exists (a missing key is
 * about its map). For a map's key, the key's own line.
 */
function lineOf(
  doc: Document,
  lines: LineCounter,
  path: (string | number)[],
): Pick<FileProblem, 'line' | 'column'> {
  for (let length = path.length; length >= 0; length--) {
    const parent = length > 0 ? doc.getIn(path.slice(0, length - 1), true) : undefined;
    const last = path[length - 1];
    // The key's position reads better than its value's: "line 7: steps.b.tipe: unknown key".
    if (isMap(parent) && last !== undefined) {
      const pair = parent.items.find(
        (item) => (item.key as { value?: unknown } | null)?.value === last,
      );
      const range = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
      if (range) return position(lines, range[0]);
    }
    const node = doc.getIn(path.slice(0, length), true) as
      { range?: [number, number, number] } | undefined;
    if (node?.range) return position(lines, node.range[0]);
  }
  return {};
}

function position(lines: LineCounter, offset: number): { line: number; column: number } {
  const { line, col } = lines.linePos(offset);
  return { line, column: col };
}
