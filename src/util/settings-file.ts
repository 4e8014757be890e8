import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { kindOf } from '../tools/file-refusals.js';

const { O_RDONLY, O_NONBLOCK, O_NOCTTY } = constants;

/**
 * Read whole a text file that sheri's own settings point at: a config file, a role's profile, a
 * scheduled flow. It must be a regular file of at most `maxBytes`; anything else throws an Error
 * saying what it is instead, for the caller to put in its own words.
 *
 * Opened without blocking (O_NONBLOCK), so a FIFO or a device put where the file was expected is
 * refused at once instead of hanging the process in `open` or `read`; checked on the open
 * descriptor, so what was checked is what is read. Symbolic links are followed: where these files
 * live is the operator's choice (a task is kept from replacing them by the sandbox, which hides
 * them: `protectedPathsFor`).
 */
export function readSettingsFile(path: string, maxBytes: number): string {
  const fd = openSync(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw new Error('it is a folder, not a file');
    if (!stat.isFile()) throw new Error(`it is a ${kindOf(stat)}, not a regular file`);
    if (stat.size > maxBytes) throw tooLarge(stat.size, maxBytes);
    // Read to the end, not to the size it had: a file that grows meanwhile is refused too.
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      if (length > maxBytes) throw tooLarge(length, maxBytes);
    }
    return buffer.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}

function tooLarge(size: number, maxBytes: number): Error {
  return new Error(`it is ${size} bytes or more; the limit is ${maxBytes}`);
}
