#!/usr/bin/env node
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

// `sheri tasks | head -1`: the reader has gone, so there is no one left to tell anything.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE')
    process.stderr.write(`sheri: cannot write output: ${error.message}\n`);
});

try {
  const { buildProgram } = await import('../src/cli/program.js');
  await buildProgram(pkg.version).parseAsync(process.argv);
} catch (error) {
  const { describeFailure, wantsDetail } = await import('../src/cli/failure.js');
  const failure = describeFailure(error, wantsDetail(process.argv));
  process.stderr.write(failure.text);
  process.exitCode = failure.exitCode;
  // A command stops what it started before it fails (src/cli/startup.ts). A bug may not have:
  // it must not keep the process, and a port, for ever.
  if (failure.exitCode === 70) setTimeout(() => process.exit(), 3_000).unref();
}
