import { editFileTool, readFileTool, writeFileTool } from './file-tools.js';
import { ToolSet, type Tool } from './registry.js';
import { listFilesTool, searchFilesTool } from './search-tools.js';
import {
  delegateTaskTool,
  publishEventTool,
  reportProgressTool,
  runShellTool,
} from './swarm-tools.js';

/** The tools an LLM task gets; delegate_task only while the delegation depth allows it. */
export function llmTools(options: { canDelegate: boolean }): ToolSet {
  const tools: Tool[] = [
    runShellTool,
    readFileTool,
    writeFileTool,
    editFileTool,
    listFilesTool,
    searchFilesTool,
    publishEventTool,
    reportProgressTool,
  ];
  if (options.canDelegate) tools.push(delegateTaskTool);
  return new ToolSet(tools);
}
