// Shared by the pass-through variants (c) and (c2) of bench:proxy.
import type { Socket } from 'node:net';

/** Closes both sockets when either errors or closes. */
export function closeTogether(a: Socket, b: Socket): void {
  const close = (): void => {
    a.destroy();
    b.destroy();
  };
  for (const s of [a, b]) {
    s.on('error', close);
    s.on('close', close);
  }
}
