// `npm run build`'s second step: the CLI that tsc built (dist/bin, dist/src) bundled by esbuild
// into dist/src/bundle/, split where the CLI imports lazily, so `dist/bin/sheri.js` loads a few
// files instead of ~300 modules. tsc's entry stays as dist/bin/sheri-modules.js (the same CLI,
// module by module: what test/cli/lazy-commands.test.ts inspects).
//
// Why (docs/BENCHMARKS.md, issue 10): an agent process spent ~180 ms of its start resolving,
// reading and compiling modules — zod alone is 95 of them, 64 its locales, which a bundle drops —
// and kept each module's source and records in its heap.
import { readFileSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
const dist = join(root, 'dist');
const entry = join(dist, 'bin/sheri.js');
const modulesEntry = join(dist, 'bin/sheri-modules.js');
const outdir = join(dist, 'src/bundle');

/**
 * Packages loaded from node_modules as they are: native addons (better-sqlite3, classic-level),
 * ones that start workers or read files by path (pino's transports, blessed's terminfo, aedes'
 * persistence), optional requires esbuild cannot resolve (pg's pg-native), and the large ones no
 * idle agent loads (the LLM SDKs, MCP). Of mqtt.js, its client (`mqtt/lib/client`, imported by
 * transport/mqtt-connect) is bundled; the rest — connect() with every transport, for URLs the
 * plain path does not take, and the TLS stream builder — is required from node_modules.
 */
const EXTERNAL = [
  '@anthropic-ai/sdk',
  '@modelcontextprotocol/sdk',
  'aedes',
  'aedes-persistence-level',
  'better-sqlite3',
  'blessed',
  'classic-level',
  'level',
  'pg',
  'pino',
  'pino-pretty',
];

// A rebuild without `tsc` first must not bundle the bundle.
const source = readFileSync(entry, 'utf8');
const input = source.includes('../src/bundle/sheri.js') ? modulesEntry : entry;
if (input === entry) renameSync(entry, modulesEntry);
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: { sheri: modulesEntry },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Whitespace and syntax only: identifiers stay, so a stack trace (--log-level debug) still
  // names sheri's functions.
  minifyWhitespace: true,
  minifySyntax: true,
  external: EXTERNAL.flatMap((name) => [name, `${name}/*`]).filter((name) => name !== 'mqtt/*'),
  // Bundled CommonJS (commander, yaml) calls require() for node's own modules.
  banner: {
    js: "import { createRequire as __sheriRequire } from 'node:module'; const require = __sheriRequire(import.meta.url);",
  },
  legalComments: 'none',
  logLevel: 'warning',
});

writeFileSync(entry, "#!/usr/bin/env node\nimport '../src/bundle/sheri.js';\n", { mode: 0o755 });
