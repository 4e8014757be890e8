import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createApp } from './app.js';

// Started from a release (releases/<id>/src/main.js) or from the source tree: its files are
// next to it either way.
const root = new URL('..', import.meta.url);
const readJson = (path) => {
  try {
    return JSON.parse(readFileSync(new URL(path, root), 'utf8'));
  } catch {
    return undefined;
  }
};
const build = readJson('version.json') ?? { version: 'dev' };
const app = createApp({
  version: build.version,
  release: build.release ?? null,
  greetings: readJson('data/greetings.json'),
});
const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const server = createServer(app);
server.listen(port, host, () => {
  console.log(
    `example-service ${build.version} listening on http://${host}:${server.address().port}`,
  );
});
for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => server.close(() => process.exit(0)));
