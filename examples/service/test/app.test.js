/* global fetch */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { checkGreetings, createApp } from '../src/app.js';

// The tests bring their own data: they test the code, not the data a release ships.
const greetings = { en: 'Hello', fr: 'Bonjour' };

async function serve(app) {
  const server = createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

describe('the service', () => {
  let running;
  before(async () => {
    running = await serve(createApp({ version: '9.9.9', release: 'r1', greetings }));
  });
  after(() => running.server.close());

  test('answers /health with its version', async () => {
    const response = await fetch(`${running.url}/health`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ok', version: '9.9.9', release: 'r1' });
  });

  test('greets in the language asked', async () => {
    const response = await fetch(`${running.url}/hello?name=Ada&lang=fr`);
    assert.equal(response.status, 200);
    assert.equal((await response.json()).message, 'Bonjour, Ada!');
  });

  test('says which language it does not know', async () => {
    const response = await fetch(`${running.url}/hello?lang=xx`);
    assert.equal(response.status, 404);
  });

  test('answers an unknown route with 404', async () => {
    assert.equal((await fetch(`${running.url}/nope`)).status, 404);
  });
});

describe('its health', () => {
  test('is unhealthy without greetings data', async () => {
    const { server, url } = await serve(
      createApp({ version: '1', release: null, greetings: undefined }),
    );
    try {
      const response = await fetch(`${url}/health`);
      assert.equal(response.status, 503);
      assert.match((await response.json()).reason, /missing/);
    } finally {
      server.close();
    }
  });

  test('names a greeting that is not text', () => {
    assert.match(checkGreetings({ en: 'Hello', de: 3 }), /"de"/);
    assert.equal(checkGreetings({ en: 'Hello' }), undefined);
  });
});
