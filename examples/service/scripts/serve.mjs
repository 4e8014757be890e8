// npm run deploy:serve [-- RELEASE_ID]: serve a release (default: the current one) on $PORT.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { checkId, current } from './releases.mjs';

const id = process.argv[2] ?? current();
checkId(id);
const main = resolve(`releases/${id}/src/main.js`);
if (!existsSync(main)) {
  console.error(`no release ${id} to serve`);
  process.exit(1);
}
console.log(`serving release ${id}`);
await import(pathToFileURL(main).href);
