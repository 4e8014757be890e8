import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareSurroundings } from '../../src/agent/agent-setup.js';
import { loadConfig } from '../../src/config/load.js';
import { runSheri } from '../helpers/sheri-process.js';
import { requireTool } from '../helpers/tools.js';

let dir: string;
/** A PATH with bash and node but no bubblewrap: a machine without it. */
let noBwrapPath: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sheri-setup-'));
  noBwrapPath = join(dir, 'bin');
  mkdirSync(noBwrapPath);
  symlinkSync('/usr/bin/bash', join(noBwrapPath, 'bash'));
  symlinkSync(process.execPath, join(noBwrapPath, 'node'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function surroundings(options: { sandbox?: string; env?: NodeJS.ProcessEnv; config?: string }) {
  const config = loadConfig(
    {
      ...(options.sandbox ? { sandbox: options.sandbox } : {}),
      ...(options.config ? { config: options.config } : {}),
    },
    options.env ?? { PATH: process.env.PATH },
  );
  return prepareSurroundings({
    config,
    role: 'testing',
    workspace: dir,
    dataDir: join(dir, '.sheri'),
    cwd: dir,
  });
}

describe('an agent without bubblewrap', () => {
  it('says plainly that its commands run without a sandbox, and why', () => {
    const { sandbox } = surroundings({ env: { PATH: noBwrapPath } });
    expect(sandbox.status).toMatchObject({
      kind: 'none',
      note: 'bubblewrap (bwrap) is not installed',
    });
  });

  it('refuses to start with --sandbox required, exit 4, saying what to install', async () => {
    const { code, stderr } = await runSheri(
      ['agent', '--role', 'testing', '--sandbox', 'required', '--broker', 'mqtt://127.0.0.1:1'],
      { cwd: dir, env: { PATH: noBwrapPath } },
    );
    expect(code).toBe(4);
    expect(stderr).toContain('refusing to start the testing agent without its sandbox');
    expect(stderr).toContain('apt-get install bubblewrap');
    expect(stderr).not.toContain('    at ');
  });

  it('rejects an unknown --sandbox mode as a usage error', () => {
    expect(() => surroundings({ sandbox: 'docker' })).toThrow(/--sandbox must be auto, bwrap/);
  });
});

describe('the workspace and the config an agent starts with', () => {
  it('refuses a workspace inside the data directory, which the sandbox hides', () => {
    const config = loadConfig({}, { PATH: process.env.PATH });
    expect(() =>
      prepareSurroundings({ config, role: 'testing', workspace: dir, dataDir: dir }),
    ).toThrow(/lies in the data directory/);
  });

  it('refuses / as a workspace', () => {
    const config = loadConfig({}, { PATH: process.env.PATH });
    expect(() =>
      prepareSurroundings({ config, role: 'testing', workspace: '/', dataDir: join(dir, 'd') }),
    ).toThrow(/the workspace may not be \//);
  });

  it('refuses llm.baseUrl from a config file in the workspace of an agent without a sandbox: a task could point the API key elsewhere', () => {
    const file = join(dir, 'sheri.config.json');
    writeFileSync(file, JSON.stringify({ llm: { baseUrl: 'http://attacker.example/v1' } }));
    expect(() =>
      surroundings({ config: file, sandbox: 'none', env: { PATH: noBwrapPath } }),
    ).toThrow(/llm\.baseUrl in .* is refused: the file lies in the workspace/);
  });

  it.runIf(requireTool('bwrap'))(
    'takes llm.baseUrl from a workspace config file the sandbox keeps read-only',
    () => {
      const file = join(dir, 'sheri.config.json');
      writeFileSync(file, JSON.stringify({ llm: { baseUrl: 'http://localhost:8000/v1' } }));
      const { sandbox, protectedPaths } = surroundings({ config: file, sandbox: 'bwrap' });
      expect(sandbox.mode).toBe('bwrap');
      expect(protectedPaths).toContain(file);
    },
  );

  it("protects sheri's own paths: the config file, the default one, the data directory", () => {
    const { protectedPaths, guardedPaths } = surroundings({ env: { PATH: noBwrapPath } });
    expect(protectedPaths).toEqual(
      expect.arrayContaining([join(dir, '.sheri'), join(dir, 'sheri.config.json')]),
    );
    expect(guardedPaths).toContain(join(dir, 'sheri.config.json'));
  });

  it("watches after each command none of the data directory's own files: the credential store sheri rewrites is no task's doing", () => {
    const dataDir = join(dir, '.sheri');
    const config = loadConfig({ dataDir }, { PATH: noBwrapPath });
    const { protectedPaths, guardedPaths } = prepareSurroundings({
      config,
      role: 'testing',
      workspace: dir,
      dataDir,
      cwd: dir,
    });
    const store = join(dataDir, 'credentials.json');
    expect(protectedPaths).toContain(store);
    expect(guardedPaths).toContain(dataDir);
    expect(guardedPaths).not.toContain(store);
  });
});
