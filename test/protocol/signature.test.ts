import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkSignature,
  signBody,
  splitSignature,
  type SigningKey,
  type SplitMessage,
} from '../../src/protocol/signature.js';

const key: SigningKey = { alg: 'hs256', key: randomBytes(32) };
const kid = 'agent:testing:testing-1:1';
const topic = 'swarm/tasks/complete';
const body = JSON.stringify({
  id: 'm1',
  timestamp: '2026-11-21T10:00:00Z',
  agent_id: 'testing-1',
  role: 'testing',
  payload: { task_id: 't1', attempt: 1, duration_ms: 5, result: 'ok' },
});

function split(message: string): SplitMessage {
  const result = splitSignature(Buffer.from(message));
  if (!result || typeof result === 'string') throw new Error(`not split: ${String(result)}`);
  return result;
}

describe('signed envelopes', () => {
  it('hands the receiver exactly the bytes that were signed', () => {
    const message = signBody(topic, body, kid, key);
    const opened = split(message);
    expect(opened.body.toString()).toBe(body);
    expect(opened.header.kid).toBe(kid);
    expect(checkSignature(topic, opened, key)).toBe(true);
  });

  it('refuses a signed message moved to another topic', () => {
    const opened = split(signBody(topic, body, kid, key));
    expect(checkSignature('swarm/tasks/failed', opened, key)).toBe(false);
  });

  it('refuses a message with one byte of its payload changed', () => {
    const message = signBody(topic, body, kid, key).replace('"result":"ok"', '"result":"ko"');
    expect(checkSignature(topic, split(message), key)).toBe(false);
  });

  it('refuses a signature moved to another key id', () => {
    const message = signBody(topic, body, kid, key).replace(kid, 'agent:testing:testing-2:1');
    expect(checkSignature(topic, split(message), key)).toBe(false);
  });

  it('refuses a signature under another key', () => {
    const message = signBody(topic, body, kid, key);
    expect(checkSignature(topic, split(message), { alg: 'hs256', key: randomBytes(32) })).toBe(
      false,
    );
  });

  it('takes the last "sig" member, so a payload field named sig cannot stand in for it', () => {
    const tricky = JSON.stringify({ id: 'm2', payload: { sig: { kid, alg: 'hs256', mac: 'x' } } });
    const opened = split(signBody(topic, tricky, kid, key));
    expect(opened.body.toString()).toBe(tricky);
    expect(checkSignature(topic, opened, key)).toBe(true);
  });

  it('says why a malformed signature is not one, and that an unsigned message has none', () => {
    expect(splitSignature(Buffer.from(body))).toBeUndefined();
    expect(splitSignature(Buffer.from(`${body.slice(0, -1)},"sig":{"kid":1}}`))).toMatch(
      /must be \{kid/,
    );
    expect(splitSignature(Buffer.from(`${body.slice(0, -1)},"sig":{oops}}`))).toMatch(
      /not a JSON object/,
    );
  });

  it('verifies the hub’s Ed25519 signature with its public key only', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const opened = split(signBody(topic, body, 'hub:-:hub:1', { alg: 'ed25519', key: privateKey }));
    expect(checkSignature(topic, opened, { alg: 'ed25519', key: publicKey })).toBe(true);
    const other = generateKeyPairSync('ed25519').publicKey;
    expect(checkSignature(topic, opened, { alg: 'ed25519', key: other })).toBe(false);
    // An HMAC key where the header says ed25519: refused, not confused.
    expect(checkSignature(topic, opened, key)).toBe(false);
  });
});
