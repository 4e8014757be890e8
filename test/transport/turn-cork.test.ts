import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { corkEachTurn } from '../../src/transport/turn-cork.js';
import { waitUntil } from '../helpers/scenarios.js';
import { countWrites } from '../helpers/socket-writes.js';

describe('a broker connection corked for a turn of the event loop (issue 10)', () => {
  let server: Server | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  /** The server's side of a fresh connection, corked as the embedded broker does, and what the client reads. */
  async function pair(): Promise<{ side: Socket; read: () => string; closed: Promise<void> }> {
    const accepted = new Promise<Socket>((resolve) => {
      server = createServer((socket) => {
        corkEachTurn(socket);
        resolve(socket);
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server!.address() as { port: number };
    const client = createConnection({ port, host: '127.0.0.1' });
    sockets.push(client);
    let text = '';
    client.on('data', (chunk) => (text += chunk.toString()));
    const closed = new Promise<void>((resolve) => client.on('close', () => resolve()));
    const side = await accepted;
    sockets.push(side);
    return { side, read: () => text, closed };
  }

  it('sends what is written in one turn, ticks and promises apart, in one write and in order', async () => {
    const { side, read } = await pair();
    const socket = countWrites(side);
    side.write('first ');
    await Promise.resolve();
    side.write('second ');
    await new Promise<void>((resolve) => process.nextTick(resolve));
    side.write('third');
    expect(socket.writes).toBe(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(socket.writes).toBe(1);
    await waitUntil(() => read() === 'first second third', 5_000, read);
  });

  it('writes what it holds before the socket is destroyed or ended in the same turn', async () => {
    const destroyed = await pair();
    destroyed.side.write('refused: not authorized');
    destroyed.side.destroy();
    await destroyed.closed;
    expect(destroyed.read()).toBe('refused: not authorized');

    const ended = await pair();
    ended.side.write('goodbye');
    ended.side.end();
    await ended.closed;
    expect(ended.read()).toBe('goodbye');
  });

  it('holds nothing past the turn: a write of the next turn goes out in a write of its own', async () => {
    const { side, read } = await pair();
    const socket = countWrites(side);
    side.write('one');
    await new Promise((resolve) => setImmediate(resolve));
    side.write(' two');
    await new Promise((resolve) => setImmediate(resolve));
    expect(socket.writes).toBe(2);
    await waitUntil(() => read() === 'one two', 5_000, read);
  });
});
