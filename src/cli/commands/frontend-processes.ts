/**
 * `dhw frontend --processes N`: N frontend processes behind one port, like nginx's worker processes or
 * gunicorn's pre-fork model. One Node process serves HTTP, JSON, tokenization and routing on one core;
 * with more cores, more processes serve more requests per second.
 *
 * How they share the port: Node 20's `net.Server.listen` has no `reusePort` (SO_REUSEPORT arrived in Node
 * 22.12 / 23.1), so this uses node:cluster: the primary owns the listening socket and hands accepted
 * connections to the children in turn (round-robin). Connections are keep-alive, so the hand-off is paid per
 * connection, not per request. The primary serves nothing itself.
 *
 * Router state: each child is a whole frontend with its own router. They see the same discovery and KV
 * events, and with `--events nats` router replica sync (on by default there) tells each the others'
 * in-flight requests, exactly as for frontends on separate machines. /metrics answers per child.
 *
 * Lifecycle: the primary forks N children (each runs this same command line and finds itself a cluster
 * worker), prints the URL once all listen, restarts a child that dies (1 s doubling to 30 s, logged) and, on
 * SIGINT/SIGTERM, asks every child to drain (an IPC message, so Ctrl-C's SIGINT to the whole process group
 * does not count twice); a second signal kills them. Children ignore SIGINT and stop on SIGTERM, on the
 * primary's message, or when the primary goes away.
 */
import cluster, { type Worker as ClusterChild } from 'node:cluster';
import type { Logger } from '../../util/logger.ts';
import { UsageError } from '../args.ts';
import { firstSignal, untilSignal } from '../signals.ts';

export const PROCESSES_FLAG = {
  processes: {
    type: 'string' as const,
    default: '1',
    help: 'frontend processes sharing --port (node:cluster): one core each; routers kept in step by replica sync (--events nats)',
  },
};

const READY = 'dhw-frontend-ready';
const STOP = 'dhw-frontend-stop';
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;

export function processesFlag(value: string | boolean | undefined): number {
  const n = Number(value ?? '1');
  if (!Number.isInteger(n) || n < 1 || n > 256)
    throw new UsageError(`--processes must be a whole number from 1 to 256, got ${JSON.stringify(value)}`);
  return n;
}

/** True in a child forked by runFrontendProcesses. */
export function isFrontendChild(): boolean {
  return cluster.isWorker;
}

/** In a child: tell the primary we listen at `url`. */
export function reportChildReady(url: string, port: number): void {
  process.send?.({ type: READY, url, port });
}

/** In a child: resolves when the primary asks us to stop, goes away, or a SIGTERM arrives. */
function untilChildStop(): Promise<string> {
  process.on('SIGINT', () => {}); // Ctrl-C reaches the whole group; the primary relays it once
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.on('message', (message: { type?: string }) => {
      if (message?.type === STOP) resolve('primary asked');
    });
    process.once('disconnect', () => resolve('primary gone'));
  });
}

/** When to drain: the primary's word in a child, a signal (SIGINT/SIGTERM) in a lone process. */
export function untilStopRequested(): Promise<string> {
  return isFrontendChild() ? untilChildStop() : untilSignal();
}

/** In a child, once drained: close the IPC channel to the primary, the last thing keeping us alive. */
export function releaseChild(): void {
  if (cluster.isWorker && process.connected) process.disconnect();
}

/**
 * In the primary: fork `count` children, print `describe(url)` once all listen, keep them alive, stop
 * them on the first signal. Resolves with the exit code.
 */
export async function runFrontendProcesses(
  count: number,
  log: Logger,
  describe: (url: string, port: number) => string,
): Promise<number> {
  const children = new Set<ClusterChild>();
  let stopping = false;
  let listening = 0;
  let announced = false;
  let restartDelay = RESTART_MIN_MS;
  let failedStart: ((err: Error) => void) | undefined;

  const fork = () => {
    const child = cluster.fork();
    children.add(child);
    let ready = false;
    child.on('message', (message: { type?: string; url?: string; port?: number }) => {
      if (message?.type !== READY || ready) return;
      ready = true;
      log.info('frontend process listening', { pid: child.process.pid });
      // Forked before the stop but slower than it: it missed the first request to stop.
      if (stopping && child.isConnected()) child.send({ type: STOP });
      listening++;
      restartDelay = RESTART_MIN_MS;
      if (!announced && listening >= count) {
        announced = true;
        console.log(describe(message.url ?? '', message.port ?? 0));
      }
    });
    child.on('exit', (code, signal) => {
      children.delete(child);
      if (ready) listening--;
      if (stopping) return;
      if (!announced) {
        failedStart?.(new Error(`a frontend process exited while starting (code ${code ?? signal})`));
        return;
      }
      log.warn('frontend process died; starting another', {
        pid: child.process.pid,
        code,
        signal,
        inMs: restartDelay,
      });
      setTimeout(() => {
        if (!stopping) fork();
      }, restartDelay);
      restartDelay = Math.min(restartDelay * 2, RESTART_MAX_MS);
    });
  };

  const signals = firstSignal(() => {
    for (const child of children) child.process.kill('SIGKILL');
  });
  const startFailed = new Promise<never>((_, reject) => {
    failedStart = reject;
  });
  for (let i = 0; i < count; i++) fork();
  try {
    const signal = await Promise.race([signals.received, startFailed]);
    log.info('stopping frontend processes', { signal, processes: children.size });
  } catch (err) {
    log.error((err as Error).message);
    stopping = true;
    for (const child of children) child.process.kill('SIGTERM');
    signals.dispose();
    return 1;
  }
  stopping = true;
  const exited = [...children].map((child) => new Promise((resolve) => child.once('exit', resolve)));
  for (const child of children) if (child.isConnected()) child.send({ type: STOP });
  await Promise.all(exited);
  signals.dispose();
  return 0;
}
