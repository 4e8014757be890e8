#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { describeFailure, wantsDetail } from '../src/cli/failure.js';
import { visible } from '../src/util/text.js';

// The package's own package.json: beside dist/ for tsc's build (dist/bin), one more folder up for
// the bundle (dist/src/bundle, scripts/bundle.mjs).
const pkgFile = ['../../package.json', '../../../package.json']
  .map((up) => new URL(up, import.meta.url))
  .find((url) => existsSync(url))!;
const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { version: string };

// `sheri tasks | head -1`: the reader has gone, so there is no one left to tell anything.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE')
    process.stderr.write(`sheri: cannot write output: ${error.message}\n`);
});

/** The one way a failure reaches the user: one line (the stack only with --log-level debug). */
function report(error: unknown): number {
  const failure = describeFailure(error, wantsDetail(process.argv));
  // A failure may quote what the swarm said (a hub's refusal, a broker's reason): shown as text.
  process.stderr.write(visible(failure.text));
  return failure.exitCode;
}

// An error no command caught, while it runs (a bug): said the same way, and the process ends.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (error: unknown) => process.exit(report(error)));
}

try {
  // The CLI is imported lazily, so a broken install still fails through report().
  const { buildProgram } = await import('../src/cli/program.js');
  await buildProgram(pkg.version).parseAsync(process.argv);
} catch (error) {
  process.exitCode = report(error);
  // A command stops what it started before it fails (src/cli/startup.ts). A bug may not have:
  // it must not keep the process, and a port, for ever.
  if (process.exitCode === 70) setTimeout(() => process.exit(), 3_000).unref();
}
