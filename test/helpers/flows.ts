import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFlowFile } from '../../src/flows/load-flow.js';
import { DEFAULT_TASK_TYPES } from '../../src/protocol/task-types.js';
import type { FlowDefinition, FlowSubmit } from '../../src/protocol/flow-messages.js';
import type { Hub } from '../../src/tasks/hub.js';
import type { TestSwarm } from './swarm.js';
import { waitUntil } from './scenarios.js';

export const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
export const DEPLOY_FLOW = join(EXAMPLES, 'deploy-flow.yaml');

/** A copy of examples/service in the swarm's folder: the workspace the flow's agents share. */
export function copyExampleService(swarm: TestSwarm, name = 'service'): string {
  const workspace = join(swarm.dir, name);
  mkdirSync(workspace, { recursive: true });
  cpSync(join(EXAMPLES, 'service'), workspace, { recursive: true });
  return workspace;
}

export function deployFlow(vars: Record<string, string> = {}): FlowDefinition {
  return readFlowFile(DEPLOY_FLOW, { vars, taskTypes: DEFAULT_TASK_TYPES });
}

/** Publish a flow on flows/new as the local operator (`sheri flow run`). */
export async function submitFlow(swarm: TestSwarm, flow: FlowSubmit): Promise<void> {
  const operator = await swarm.connectAs({ kind: 'operator' });
  await operator.publish('flows/new', flow);
}

/** Wait for the flow to end in the hub's ledger; returns its final state. */
export async function flowEnded(hub: Hub, flowId: string, timeoutMs = 60_000): Promise<string> {
  await waitUntil(
    () => {
      const state = hub.flows.engine.store.get(flowId)?.state;
      return state !== undefined && state !== 'running';
    },
    timeoutMs,
    () => JSON.stringify(hub.flows.engine.view(flowId)),
  );
  return hub.flows.engine.store.get(flowId)!.state;
}
