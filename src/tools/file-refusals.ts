import type { Stats } from 'node:fs';
import { FileRefusal } from './workspace-path.js';

/** The file tools' refusals, in words the model can act on. */

export function kindOf(stat: Stats): string {
  if (stat.isFIFO()) return 'FIFO (named pipe)';
  if (stat.isSocket()) return 'socket';
  if (stat.isCharacterDevice()) return 'character device';
  if (stat.isBlockDevice()) return 'block device';
  return 'special file';
}

export function gitRefusal(shown: string): FileRefusal {
  return new FileRefusal(
    `"${shown}" is inside a .git folder; the file tools never write there (hooks and config such as core.fsmonitor run code); reads are allowed`,
  );
}

export function protectedRefusal(shown: string): FileRefusal {
  return new FileRefusal(
    `"${shown}" is one of sheri's own files (config, data, ledger or credentials); the file tools neither read nor write it`,
  );
}

export function changingRefusal(shown: string): FileRefusal {
  return new FileRefusal(`"${shown}" kept changing while it was opened; try again`);
}

export function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** A file-system error named by the model's path, not by the /proc path it was opened with. */
export function explain(error: unknown, shown: string): Error {
  if (error instanceof FileRefusal) return error;
  const code = errorCode(error);
  if (code === 'ENOENT') return new FileRefusal(`no such file or folder: "${shown}"`);
  if (code === 'ENOTDIR') return new FileRefusal(`a part of "${shown}" is not a folder`);
  if (code === 'EISDIR') return new FileRefusal(`"${shown}" is a folder`);
  if (code === 'EACCES' || code === 'EPERM')
    return new FileRefusal(`permission denied: "${shown}"`);
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new FileRefusal(`no space left for "${shown}"`);
  if (code === 'EROFS') return new FileRefusal(`"${shown}" is on a read-only file system`);
  if (code === 'ENAMETOOLONG') return new FileRefusal(`a name in "${shown}" is too long`);
  return new FileRefusal(`${code ?? (error as Error).message} on "${shown}"`);
}
