import { createHmac, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';

/**
 * The canonical form of a signed envelope (PROTOCOL §15.4). The signature covers the exact bytes
 * sent — the envelope's JSON without its last member, `"sig"` — with the full topic and the key
 * id, so nothing is re-serialised and the receiver acts on exactly the bytes that were signed.
 */

export type SignatureAlg = 'hs256' | 'ed25519';

export interface SignatureHeader {
  kid: string;
  alg: SignatureAlg;
  mac: string;
}

const MARKER = Buffer.from(',"sig":');
const PREFIX = 'sheri-sig-v1\n';
const CLOSE = Buffer.from('}');

/** What is signed: the prefix, the full topic, the key id, the body. */
function signedParts(topic: string, kid: string, body: Buffer | string): (Buffer | string)[] {
  return [PREFIX, topic, '\n', kid, '\n', body];
}

export function hmacOf(key: Buffer, topic: string, kid: string, body: Buffer | string): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of signedParts(topic, kid, body)) mac.update(part);
  return mac.digest();
}

function concatParts(topic: string, kid: string, body: Buffer | string): Buffer {
  return Buffer.concat(
    signedParts(topic, kid, body).map((part) =>
      typeof part === 'string' ? Buffer.from(part) : part,
    ),
  );
}

export type SigningKey = { alg: 'hs256'; key: Buffer } | { alg: 'ed25519'; key: KeyObject };

/** `body` is an envelope's JSON (ending in `}`); returns the message with its signature. */
export function signBody(topic: string, body: string, kid: string, key: SigningKey): string {
  const mac =
    key.alg === 'hs256'
      ? hmacOf(key.key, topic, kid, body)
      : sign(null, concatParts(topic, kid, body), key.key);
  const header: SignatureHeader = { kid, alg: key.alg, mac: mac.toString('base64url') };
  return `${body.slice(0, -1)},"sig":${JSON.stringify(header)}}`;
}

export interface SplitMessage {
  /** The signed envelope: the message without its `sig` member. */
  body: Buffer;
  header: SignatureHeader;
}

/**
 * Take the signature off a message: undefined when it carries none, a string saying why when it
 * carries a malformed one. `,"sig":` cannot occur inside a JSON string (`"` is escaped there), so
 * the last one is the envelope's own last member, or the message is not validly signed.
 */
export function splitSignature(bytes: Buffer): SplitMessage | string | undefined {
  let end = bytes.length;
  while (end > 0 && isSpace(bytes[end - 1]!)) end--;
  const at = bytes.lastIndexOf(MARKER, end);
  if (at < 0) return undefined;
  if (bytes[end - 1] !== 0x7d) return 'the message does not end with its "sig" member';
  let header: unknown;
  try {
    header = JSON.parse(bytes.toString('utf8', at + MARKER.length, end - 1));
  } catch {
    return 'the "sig" member is not a JSON object';
  }
  if (!isHeader(header)) return 'the "sig" member must be {kid, alg: "hs256"|"ed25519", mac}';
  return { body: Buffer.concat([bytes.subarray(0, at), CLOSE]), header };
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function isHeader(value: unknown): value is SignatureHeader {
  if (!value || typeof value !== 'object') return false;
  const { kid, alg, mac } = value as Record<string, unknown>;
  return (
    typeof kid === 'string' &&
    kid.length <= 400 &&
    (alg === 'hs256' || alg === 'ed25519') &&
    typeof mac === 'string' &&
    mac.length <= 200 &&
    isCanonicalBase64url(mac)
  );
}

/**
 * Decoding base64url skips stray characters and the spare bits of the last one: only the one
 * spelling of each signature is taken, so an altered signature can never still match.
 */
function isCanonicalBase64url(text: string): boolean {
  return (
    /^[A-Za-z0-9_-]*$/.test(text) && Buffer.from(text, 'base64url').toString('base64url') === text
  );
}

/** Whether `header.mac` is the signature of `body` on `topic` under `key` (constant time for HMAC). */
export function checkSignature(
  topic: string,
  split: SplitMessage,
  key: { alg: 'hs256'; key: Buffer } | { alg: 'ed25519'; key: KeyObject },
): boolean {
  const { header, body } = split;
  if (header.alg !== key.alg) return false;
  const given = Buffer.from(header.mac, 'base64url');
  if (key.alg === 'hs256') {
    const want = hmacOf(key.key, topic, header.kid, body);
    return given.length === want.length && timingSafeEqual(given, want);
  }
  try {
    return verify(null, concatParts(topic, header.kid, body), key.key, given);
  } catch {
    return false;
  }
}
