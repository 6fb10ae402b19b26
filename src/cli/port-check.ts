/**
 * "Is the HTTP port free?" asked before the slow part of a start (loading a model takes seconds), the way
 * a daemon checks its pid file first: a taken port is one line naming the flag, not a raw EADDRINUSE stack
 * trace after the model has loaded. The real listen can still lose a race; `describeListenError` gives it
 * the same line.
 */
import { createServer } from 'node:net';
import { DhwError } from '../util/errors.ts';

/** The HTTP port is taken (or not ours to bind). */
export class PortUnavailableError extends DhwError {}

function portMessage(host: string, port: number, code: string | undefined): string {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (code === 'EACCES')
    return `cannot listen on ${where}: permission denied (ports below 1024 need root); choose another with --port`;
  if (code === 'EADDRNOTAVAIL')
    return `cannot listen on ${where}: this machine has no such address; fix --host`;
  return `port ${port} is already in use on ${host} (another dhw serve/frontend? see \`ss -ltnp\`); choose another with --port`;
}

/** Resolves if `host:port` can be bound right now (port 0 always can); else throws PortUnavailableError. */
export async function ensurePortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(new PortUnavailableError(portMessage(host, port, err.code), { cause: err })),
    );
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** A listen error as the one-line PortUnavailableError, or the error itself when it is something else. */
export function describeListenError(err: unknown, host: string, port: number): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL')
    return new PortUnavailableError(portMessage(host, port, code), { cause: err });
  return err;
}
