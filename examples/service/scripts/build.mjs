// npm run build [-- VERSION]: the service as it will be released, in dist/.
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setOutput } from './outputs.mjs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const version = process.argv[2] ?? pkg.version;
if (!/^[0-9A-Za-z.+-]{1,50}$/.test(version)) {
  console.error(`version "${version}" must be 1-50 letters, digits, ".", "+" or "-"`);
  process.exit(2);
}
rmSync('dist', { recursive: true, force: true });
cpSync('src', 'dist/src', { recursive: true });
cpSync('data', 'dist/data', { recursive: true });
writeFileSync(
  'dist/version.json',
  `${JSON.stringify({ version, built_at: new Date().toISOString() })}\n`,
);
console.log(`built example-service ${version} in dist/`);
setOutput('version', version);
