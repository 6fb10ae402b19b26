/**
 * Opening a NATS connection the way a long-running service needs it, like a database pool with
 * keepalive: the first connect fails fast with a message that says what to do, and after that the
 * connection reconnects forever (fixed wait + jitter between attempts) so a nats-server restart is an
 * outage, not a crash. nats.js resends our subscriptions after a reconnect; `ConnectionState` tracks
 * whether we are connected right now (fire-and-forget publishes are dropped while we are not).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../util/logger.ts';
import { EventBusUnavailableError } from './errors.ts';
import { type NatsSecurity, natsSecurityOptions } from './nats-security.ts';

/** Where NATS is when neither an option nor `NATS_SERVER` says otherwise (nats-server's default). */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export interface NatsConnectOptions {
  /** `nats://host:port` (comma-separated for several servers). */
  url: string;
  /** Connection name shown by the server's monitoring (`/connz`). */
  name?: string;
  /** How long the first connect may take before failing. Default 3000 ms. */
  connectTimeoutMs?: number;
  /** Wait between reconnect attempts (plus up to 100 ms jitter). Default 250 ms. */
  reconnectWaitMs?: number;
  /** Reconnect attempts per server before giving up; -1 = never give up (default). */
  maxReconnectAttempts?: number;
  /** TLS and credentials of a secured nats-server (nats-security.ts); default: none. */
  natsSecurity?: NatsSecurity;
}

/** The URL from an explicit option, else `$NATS_SERVER` (Dynamo's variable), else nats://127.0.0.1:4222. */
export function resolveNatsUrl(explicit?: string): string {
  const fromEnv = process.env.NATS_SERVER?.trim();
  return explicit?.trim() || fromEnv || DEFAULT_NATS_URL;
}

export function unreachableMessage(url: string, detail: string): string {
  return (
    `Cannot reach NATS at ${url} (${detail}). Is nats-server running? Try: \`dhw infra up\`, ` +
    'or point --nats-server / NATS_SERVER at a running server.'
  );
}

export async function connectNats(options: NatsConnectOptions): Promise<NatsConnection> {
  const servers = options.url.split(',').map((s) => s.trim());
  const security = natsSecurityOptions(options.natsSecurity);
  try {
    return await connect({
      servers,
      name: options.name,
      timeout: options.connectTimeoutMs ?? 3000,
      reconnect: true,
      maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
      reconnectTimeWait: options.reconnectWaitMs ?? 250,
      reconnectJitter: 100,
      waitOnFirstConnect: false,
      // Notice a silently dead server (no RST, e.g. a paused VM) within ~10 s instead of nats.js's 4 min.
      pingInterval: 5000,
      maxPingOut: 2,
      ...security,
    });
  } catch (err) {
    const cause = err as Error & { cause?: Error };
    const detail = cause.cause?.message ?? cause.message ?? String(err);
    throw new EventBusUnavailableError(unreachableMessage(options.url, detail), { cause: err });
  }
}

/** Follows a connection's status stream: connected or not, logged on every change. */
export class ConnectionState {
  private isConnected = true;
  readonly done: Promise<void>;
  private readonly reconnectListeners: (() => void)[] = [];

  constructor(nc: NatsConnection, log: Logger, url: string) {
    this.done = this.watch(nc, log, url);
  }

  get connected(): boolean {
    return this.isConnected;
  }

  /** Call `listener` after every reconnect. */
  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }

  private async watch(nc: NatsConnection, log: Logger, url: string): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        this.isConnected = false;
        log.warn('lost connection to NATS; reconnecting (core events are dropped meanwhile)', { url });
      } else if (status.type === 'reconnect') {
        this.isConnected = true;
        log.info('reconnected to NATS', { url: status.server });
        for (const listener of this.reconnectListeners) {
          try {
            listener();
          } catch (err) {
            log.error('a reconnect listener failed', { error: err });
          }
        }
      } else if (status.type === 'close') {
        this.isConnected = false;
      }
    }
  }
}
