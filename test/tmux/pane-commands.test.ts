import { describe, expect, it } from 'vitest';
import {
  agentArgv,
  localListenAddress,
  monitorArgv,
  upArgv,
} from '../../src/tmux/pane-commands.js';

const sheri = ['/usr/bin/node', '/opt/sheri/dist/bin/sheri.js'];
const settings = { broker: 'mqtt://127.0.0.1:1884', swarm: 'demo', workspace: '/work/app' };

describe('pane commands', () => {
  it("runs each agent with its role and id, joined to the launcher's broker and swarm", () => {
    expect(
      agentArgv(
        sheri,
        { ...settings, logLevel: 'debug' },
        { role: 'testing', agentId: 'testing-1a2b3c' },
      ),
    ).toEqual([
      sheri[0],
      '--max-semi-space-size=2',
      sheri[1],
      'agent',
      '--role',
      'testing',
      '--agent-id',
      'testing-1a2b3c',
      '--workspace',
      '/work/app',
      '--broker',
      'mqtt://127.0.0.1:1884',
      '--swarm',
      'demo',
      '--log-level',
      'debug',
    ]);
  });

  it('starts sheri up on the port of the broker URL, and the monitor without agent options', () => {
    expect(upArgv(sheri, settings, { host: '127.0.0.1', port: 1884 })).toEqual([
      ...sheri,
      'up',
      '--host',
      '127.0.0.1',
      '--port',
      '1884',
      '--swarm',
      'demo',
    ]);
    expect(monitorArgv(sheri, settings)).toEqual([
      ...sheri,
      'monitor',
      '--broker',
      'mqtt://127.0.0.1:1884',
      '--swarm',
      'demo',
    ]);
  });

  it('starts a broker only for an address on this machine', () => {
    expect(localListenAddress('mqtt://localhost')).toEqual({ host: '127.0.0.1', port: 1883 });
    expect(localListenAddress('mqtt://127.0.0.1:1884')).toEqual({ host: '127.0.0.1', port: 1884 });
    expect(localListenAddress('mqtt://[::1]:1885')).toEqual({ host: '::1', port: 1885 });
    expect(localListenAddress('mqtt://build-box:1883')).toBeUndefined();
    expect(localListenAddress('mqtts://localhost:8883')).toBeUndefined();
    expect(localListenAddress('ws://localhost:8080')).toBeUndefined();
  });
});
