import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { EXIT, SheriError } from '../errors.js';

/** Files of secrets: mode 0600 in a folder of mode 0700 (PROTOCOL §15.2). */

export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir leaves an existing folder's mode alone; a folder of secrets must not be listable.
  chmodSync(dir, 0o700);
}

/** Read a file of secrets, refusing one that others could have read (as ssh refuses a key). */
export function readPrivateFile(path: string): string {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (error) {
    throw new SheriError(`cannot read ${path}: ${(error as Error).message}`, EXIT.config);
  }
  if ((mode & 0o077) !== 0) {
    throw new SheriError(
      `${path} holds secrets and is readable by others (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${path}`,
      EXIT.config,
    );
  }
  return readFileSync(path, 'utf8');
}

function tempBeside(path: string): string {
  return join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
}

/** Replace `path` atomically with `text`, mode 0600. */
export function writePrivateFile(path: string, text: string): void {
  const temp = tempBeside(path);
  writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
  renameSync(temp, path);
}

/** Create `path` with `text` unless it exists; false when another process created it first. */
export function createPrivateFile(path: string, text: string): boolean {
  const temp = tempBeside(path);
  writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(temp);
  }
}
