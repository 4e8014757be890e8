// npm run deploy -- RELEASE_ID: copy the build to releases/RELEASE_ID and make it current.
// Earlier releases stay where they are, so a rollback can serve the previous one again.
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { checkId, current, history, record, setCurrent } from './releases.mjs';
import { setOutput } from './outputs.mjs';

const id = process.argv[2];
checkId(id);
if (!existsSync('dist/version.json')) {
  console.error('nothing to release: run npm run build first');
  process.exit(1);
}
const target = `releases/${id}`;
if (existsSync(target)) {
  console.error(`release ${id} exists already`);
  process.exit(1);
}
const previous = current();
cpSync('dist', target, { recursive: true });
const build = JSON.parse(readFileSync(`${target}/version.json`, 'utf8'));
writeFileSync(`${target}/version.json`, `${JSON.stringify({ ...build, release: id })}\n`);
record([...history(), id]);
setCurrent(id);
console.log(
  `release ${id} (version ${build.version}) is current${previous ? `; previous: ${previous}` : ''}`,
);
setOutput('release', id);
setOutput('previous', previous ?? '');
