import { editFileTool, readFileTool, writeFileTool } from './file-tools.js';
import { ToolSet, type Tool } from './registry.js';
import { listFilesTool, searchFilesTool } from './search-tools.js';
import {
  delegateTaskTool,
  publishEventTool,
  reportProgressTool,
  runShellTool,
} from './swarm-tools.js';

/**
 * The tools an LLM task gets; delegate_task only while the delegation depth allows it, and no
 * write_file/edit_file for a read-only role (review, security, monitoring by default).
 */
export function llmTools(options: { canDelegate: boolean; readOnly: boolean }): ToolSet {
  const tools: Tool[] = [
    runShellTool,
    readFileTool,
    ...(options.readOnly ? [] : [writeFileTool, editFileTool]),
    listFilesTool,
    searchFilesTool,
    publishEventTool,
    reportProgressTool,
  ];
  if (options.canDelegate) tools.push(delegateTaskTool);
  return new ToolSet(tools);
}
