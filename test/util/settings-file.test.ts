import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { loadProfile, MAX_PROFILE_BYTES } from '../../src/llm/profiles.js';
import { scheduleEntriesOf } from '../../src/tasks/schedule-entries.js';
import { readSettingsFile } from '../../src/util/settings-file.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tempDir = tempDirs('sheri-settings-');

/** A FIFO nobody writes to: reading it the plain way blocks the process for ever. */
function fifo(path: string): string {
  execFileSync('mkfifo', [path]);
  return path;
}

describe('files the settings point at, replaced by something that is not a file', () => {
  it('reads a regular file whole, through a link too', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'real.md'), 'hello');
    execFileSync('ln', ['-s', 'real.md', join(dir, 'link.md')]);
    expect(readSettingsFile(join(dir, 'link.md'), 5)).toBe('hello');
    expect(() => readSettingsFile(join(dir, 'real.md'), 4)).toThrow(/limit is 4/);
  });

  it('refuses a FIFO at once instead of hanging on it, and a folder', () => {
    const dir = tempDir();
    expect(() => readSettingsFile(fifo(join(dir, 'pipe')), 1024)).toThrow(
      'it is a FIFO (named pipe), not a regular file',
    );
    expect(() => readSettingsFile(dir, 1024)).toThrow('it is a folder, not a file');
  });

  it('stops the start with exit 4 for a role profile that is a FIFO or too large, naming it', () => {
    const dir = tempDir();
    fifo(join(dir, 'general.md'));
    writeFileSync(join(dir, 'review.md'), 'x'.repeat(MAX_PROFILE_BYTES + 1));
    expect(() => loadProfile('general', dir)).toThrow(
      expect.objectContaining({
        exitCode: 4,
        message: `the general profile ${join(dir, 'general.md')} cannot be used: it is a FIFO (named pipe), not a regular file`,
      }),
    );
    expect(() => loadProfile('review', dir)).toThrow(/review profile .* limit is 262144/);
    // A role without a file of its own still gets the shipped profile.
    expect(loadProfile('testing', dir).text).toContain('You run and judge tests');
  });

  it('stops the hub with exit 4 for a scheduled flow that is a FIFO, instead of hanging its start', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'flows'));
    fifo(join(dir, 'flows', 'nightly.yaml'));
    writeFileSync(
      join(dir, 'sheri.config.json'),
      JSON.stringify({ schedules: { nightly: { every: '1h', flow: 'flows/nightly.yaml' } } }),
    );
    const config = loadConfig({ config: join(dir, 'sheri.config.json') }, {});
    expect(() => scheduleEntriesOf(config)).toThrow(
      expect.objectContaining({
        exitCode: 4,
        message: expect.stringContaining(
          `schedules.nightly: flow file ${join(dir, 'flows', 'nightly.yaml')}: cannot read it: it is a FIFO (named pipe)`,
        ),
      }),
    );
  });
});
