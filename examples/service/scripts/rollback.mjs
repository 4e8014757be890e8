// npm run deploy:rollback: make the release before the current one current again.
import { current, history, setCurrent } from './releases.mjs';
import { setOutput } from './outputs.mjs';

const ids = history();
const bad = current();
const at = ids.indexOf(bad);
const previous = at > 0 ? ids[at - 1] : undefined;
if (!previous) {
  console.error(`no release before ${bad ?? '(none)'} to roll back to`);
  process.exit(1);
}
setCurrent(previous);
console.log(`rolled back from ${bad} to ${previous}`);
setOutput('release', previous);
setOutput('from', bad);
