import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** releases/history.json: every release id, oldest first; releases/current: the one to serve. */
export const HISTORY = 'releases/history.json';
export const CURRENT = 'releases/current';

export function history() {
  return existsSync(HISTORY) ? JSON.parse(readFileSync(HISTORY, 'utf8')) : [];
}

export function current() {
  return existsSync(CURRENT) ? readFileSync(CURRENT, 'utf8').trim() : undefined;
}

export function setCurrent(id) {
  writeFileSync(CURRENT, `${id}\n`);
}

export function record(ids) {
  writeFileSync(HISTORY, `${JSON.stringify(ids, null, 2)}\n`);
}

export function checkId(id) {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(id ?? '')) {
    console.error(`release id "${id}" must be 1-100 letters, digits, ".", "_" or "-"`);
    process.exit(2);
  }
}
