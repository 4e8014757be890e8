import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/**
 * A maker of fresh folders in the system's temp directory, or in `parent` (`<prefix>XXXXXX`),
 * each removed once the calling file's tests have run. Call it at the top of a test file or
 * describe block.
 */
export function tempDirs(prefix: string, parent = tmpdir()): () => string {
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(parent, prefix));
    made.push(dir);
    return dir;
  };
}
