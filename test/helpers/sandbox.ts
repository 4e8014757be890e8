import { DEFAULTS } from '../../src/config/defaults.js';
import { Sandbox } from '../../src/tools/shell/sandbox.js';
import { requireTool } from './tools.js';

let sandbox: Sandbox | undefined;

/**
 * The sandbox agents get by default here: bubblewrap, which CI installs (a test that needs it
 * fails there without it, and falls back to no sandbox on a developer's machine).
 */
export function testSandbox(): Sandbox {
  if (!sandbox) {
    const mode = requireTool('bwrap') ? 'bwrap' : 'none';
    sandbox = Sandbox.create({
      mode,
      limits: DEFAULTS.sandboxLimits,
      protectedPaths: [],
      env: process.env,
    });
  }
  return sandbox;
}
