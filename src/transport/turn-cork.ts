import type { Socket } from 'node:net';

/**
 * What is written to `socket` in one turn of the event loop leaves in one write: the first write
 * of a turn corks the socket, the end of the turn (`setImmediate`) uncorks it. mqtt-packet
 * uncorks after each packet (on the next tick), and aedes writes each packet a tick or an
 * immediate apart, so a broker that forwards a QoS 1 message and acknowledges another to the
 * same client made a system call, and woke the client, for each (issue 10). Order is kept; nothing
 * waits past the turn; and what is corked is written before the socket ends or is destroyed, so
 * a packet sent just before a close (a refused CONNACK) still goes out.
 */
export function corkEachTurn(socket: Socket): void {
  let corked = false;
  const release = (): void => {
    if (!corked) return;
    corked = false;
    socket.uncork();
  };
  const write = socket.write;
  socket.write = function (this: Socket, ...args: unknown[]): boolean {
    if (!corked && !socket.destroyed) {
      corked = true;
      socket.cork();
      setImmediate(release);
    }
    return (write as (...rest: unknown[]) => boolean).apply(this, args);
  } as Socket['write'];
  const end = socket.end;
  socket.end = function (this: Socket, ...args: unknown[]): Socket {
    release();
    return (end as (...rest: unknown[]) => Socket).apply(this, args);
  } as Socket['end'];
  const destroy = socket.destroy;
  socket.destroy = function (this: Socket, error?: Error): Socket {
    release();
    return destroy.call(this, error);
  };
}
