#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { CommanderError } from 'commander';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

try {
  const { buildProgram } = await import('../src/cli/program.js');
  const program = buildProgram(pkg.version).exitOverride();
  await program.parseAsync(process.argv);
} catch (error) {
  const { SheriError } = await import('../src/errors.js');
  if (error instanceof CommanderError) {
    // Commander has printed its message (or the help) already.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (error instanceof SheriError) {
    process.stderr.write(`sheri: ${error.message}\n`);
    process.exitCode = error.exitCode;
  } else {
    process.stderr.write(`sheri: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 70;
  }
}
