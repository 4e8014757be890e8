import type { Socket } from 'node:net';

/** A CONNECT (client id, login, a Last Will) and anything sent before the login is checked. */
export const PRE_LOGIN_PACKET_BYTES = 64 * 1024;
/** Bytes a connection may send before its login is accepted, all packets together. */
export const PRE_LOGIN_TOTAL_BYTES = 256 * 1024;
/** What a PUBLISH adds to its payload at most: a topic (≤ 64 KiB), a packet id, the header. */
export const PUBLISH_OVERHEAD_BYTES = 64 * 1024 + 16;

/**
 * Stop a connection at the first MQTT packet longer than it may send, as soon as the packet's
 * fixed header says its length — before aedes has buffered the packet. MQTT lets a packet be
 * 256 MB and aedes sets no limit, so three connections announcing 200 MB each and never finishing
 * held 600 MB of the broker's (and `sheri up`'s hub's) memory without any login.
 *
 * aedes reads with `socket.read()`; each chunk it reads is metered here. `limitOf()` is asked for
 * each packet: what this connection may send now (its login decides, PRE_LOGIN_PACKET_BYTES
 * until then). Before the login is accepted, `loggedIn()` false, all packets together may be at
 * most PRE_LOGIN_TOTAL_BYTES. A malformed length (more than 4 bytes) ends the connection too.
 */
export function limitPacketSizes(
  socket: Socket,
  limitOf: () => number,
  loggedIn: () => boolean,
  onRefused: (reason: string) => void,
): void {
  const meter = new PacketMeter();
  let before = 0;
  const read = socket.read.bind(socket);
  socket.read = ((size?: number) => {
    const chunk = read(size) as Buffer | string | null;
    if (chunk === null || typeof chunk === 'string' || socket.destroyed) return chunk;
    const refusal =
      meter.feed(chunk, limitOf) ??
      (!loggedIn() && (before += chunk.length) > PRE_LOGIN_TOTAL_BYTES
        ? `sent ${before} bytes before its login was accepted, more than ${PRE_LOGIN_TOTAL_BYTES}`
        : undefined);
    if (refusal === undefined) return chunk;
    onRefused(refusal);
    socket.destroy();
    return null;
  }) as Socket['read'];
}

/** MQTT's fixed headers across chunks: a type byte, 1–4 bytes of length, then the packet's body. */
export class PacketMeter {
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private lengthBytes = 0;
  private left = 0;

  /** Why the stream must stop, once a packet's length is over `limitOf()`; undefined otherwise. */
  feed(chunk: Buffer, limitOf: () => number): string | undefined {
    let at = 0;
    while (at < chunk.length) {
      if (this.state === 'body') {
        const take = Math.min(this.left, chunk.length - at);
        this.left -= take;
        at += take;
        if (this.left === 0) this.state = 'type';
        continue;
      }
      const byte = chunk[at++]!;
      if (this.state === 'type') {
        this.state = 'length';
        this.length = 0;
        this.lengthBytes = 0;
        continue;
      }
      this.length += (byte & 0x7f) * 128 ** this.lengthBytes;
      this.lengthBytes++;
      if (byte & 0x80) {
        if (this.lengthBytes === 4) return 'a packet length of more than 4 bytes (malformed)';
        continue;
      }
      const limit = limitOf();
      if (this.length > limit) {
        return `a packet of ${this.length} bytes, more than the ${limit} this connection may send`;
      }
      this.left = this.length;
      this.state = this.left === 0 ? 'type' : 'body';
    }
    return undefined;
  }
}
