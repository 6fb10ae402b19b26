/**
 * A minimal etcd v3 client over etcd's own HTTP/JSON gateway (`POST /v3/kv/put`, `/v3/watch`, ...) with
 * plain `fetch`: every call has a deadline, failover walks the endpoint list, and nothing hides a failure
 * (no retry loops or circuit breakers inside; the caller decides). Like talking to a REST registry with
 * curl, which is exactly how you can debug it:
 *
 *   curl -s http://127.0.0.1:2379/v3/kv/range -d '{"key":"L2R5bmFtby8=","range_end":"L2R5bmFtby0="}'
 *
 * Wire facts (etcd 3.4): keys and values are base64; int64s (lease ids, revisions) are decimal strings;
 * fields with default values are omitted (a PUT event has no "type"); `/v3/watch` streams one JSON object
 * per line; a keepalive for an unknown lease answers without a TTL.
 */
import type { Agent } from 'node:https';
import { cannotReachEtcdMessage, DiscoveryError, DiscoveryUnavailableError } from './errors.ts';
import { type EtcdSecurity, type HttpAnswer, postOverTls, readJson, tlsAgent } from './etcd-security.ts';

/** An error etcd itself returned (as opposed to not answering). `code` is the gRPC status code. */
export class EtcdRequestError extends DiscoveryError {
  constructor(
    message: string,
    readonly code: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** gRPC NOT_FOUND: e.g. "requested lease not found". */
export const GRPC_NOT_FOUND = 5;
/** gRPC UNAUTHENTICATED: "etcdserver: invalid auth token" (expired) or no token where auth is on. */
export const GRPC_UNAUTHENTICATED = 16;

export interface EtcdKv {
  key: string;
  /** Raw value text (we store JSON). */
  value: string;
  modRevision: string;
}

export interface EtcdWatchEvent {
  type: 'put' | 'delete';
  kv: EtcdKv;
}

export interface WatchStreamHandlers {
  onEvents(events: EtcdWatchEvent[]): void;
  /** The stream ended on its own (server gone, canceled, compacted). Not called after close(). */
  onEnd(err: Error): void;
}

interface RawKv {
  key?: string;
  value?: string;
  mod_revision?: string;
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (text: string | undefined) => (text ? Buffer.from(text, 'base64').toString('utf8') : '');

/** The range end that selects every key starting with `prefix` (increment its last byte, dropping 0xff). */
export function prefixRangeEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8');
  for (let i = bytes.length - 1; i >= 0; i--) {
    if ((bytes[i] as number) < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1));
      end[i] = (end[i] as number) + 1;
      return end.toString('base64');
    }
  }
  return Buffer.from([0]).toString('base64'); // all keys
}

function toKv(raw: RawKv): EtcdKv {
  return { key: unb64(raw.key), value: unb64(raw.value), modRevision: raw.mod_revision ?? '0' };
}

export class EtcdGateway {
  private current = 0;
  /** node:https agent with the CA and client certificate (TLS only; plain HTTP uses fetch). */
  private readonly agent: Agent | undefined;
  /** The RBAC token from /v3/auth/authenticate, sent as `Authorization` (auth only). */
  private token: Promise<string> | undefined;

  constructor(
    readonly endpoints: readonly string[],
    private readonly requestTimeoutMs = 2000,
    private readonly security: EtcdSecurity = {},
  ) {
    this.agent = security.tls ? tlsAgent(security.tls) : undefined;
    if (security.user !== undefined && security.password === undefined)
      throw new DiscoveryError(`etcd user "${security.user}" needs a password`);
  }

  /** The endpoint that answered last (where watches are opened). */
  get endpoint(): string {
    return this.endpoints[this.current] as string;
  }

  /**
   * POST one request with a deadline; on no answer try the next endpoint (each once). With auth, an
   * expired token (etcd drops idle simple tokens after --auth-token-ttl) is renewed once and the call retried.
   */
  async call<T>(path: string, body: object, timeoutMs = this.requestTimeoutMs): Promise<T> {
    try {
      return await this.callOnce<T>(path, body, timeoutMs, await this.authHeaders(timeoutMs));
    } catch (err) {
      if (!(err instanceof EtcdRequestError && err.code === GRPC_UNAUTHENTICATED && this.token)) throw err;
      this.token = undefined;
      return this.callOnce<T>(path, body, timeoutMs, await this.authHeaders(timeoutMs));
    }
  }

  private async callOnce<T>(
    path: string,
    body: object,
    timeoutMs: number,
    headers: Record<string, string>,
  ): Promise<T> {
    let lastError: unknown;
    for (let i = 0; i < this.endpoints.length; i++) {
      const index = (this.current + i) % this.endpoints.length;
      let json: { error?: string; message?: string; code?: number };
      let status: number;
      try {
        const res = await this.post(
          `${this.endpoints[index]}${path}`,
          body,
          headers,
          AbortSignal.timeout(timeoutMs),
        );
        status = res.status;
        json = (await readJson(res.body)) as typeof json;
      } catch (err) {
        lastError = err;
        continue;
      }
      this.current = index;
      if (status !== 200 || json.error !== undefined) {
        throw new EtcdRequestError(
          `etcd ${path} failed: ${json.message ?? json.error ?? `HTTP ${status}`}`,
          json.code,
        );
      }
      return json as T;
    }
    throw new DiscoveryUnavailableError(cannotReachEtcdMessage(this.endpoints), { cause: lastError });
  }

  /** One POST: fetch for plain HTTP, node:https when a client certificate or CA is configured. */
  private async post(
    url: string,
    body: object,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<HttpAnswer> {
    if (this.agent) return postOverTls(this.agent, url, body, headers, signal);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal,
    });
    return { status: res.status, body: res.body ?? emptyBody() };
  }

  /** `{authorization: token}` when a user is configured (authenticating first if needed), else `{}`. */
  private async authHeaders(timeoutMs: number): Promise<Record<string, string>> {
    const { user, password } = this.security;
    if (user === undefined) return {};
    this.token ??= this.callOnce<{ token: string }>(
      '/v3/auth/authenticate',
      { name: user, password },
      timeoutMs,
      {},
    ).then((res) => res.token);
    this.token.catch(() => {
      this.token = undefined;
    });
    return { authorization: await this.token };
  }

  /** A new lease; returns its id (decimal string). */
  async grantLease(ttlSeconds: number, timeoutMs?: number): Promise<string> {
    const res = await this.call<{ ID: string }>('/v3/lease/grant', { TTL: ttlSeconds }, timeoutMs);
    return res.ID;
  }

  /** Renew a lease; returns its fresh TTL in seconds, or 0 if etcd no longer has it. */
  async keepAlive(leaseId: string, timeoutMs?: number): Promise<number> {
    const res = await this.call<{ result?: { TTL?: string } }>(
      '/v3/lease/keepalive',
      { ID: leaseId },
      timeoutMs,
    );
    return Number(res.result?.TTL ?? 0);
  }

  /** Seconds left on a lease, -1 if it does not exist. */
  async timeToLive(leaseId: string): Promise<number> {
    const res = await this.call<{ TTL?: string }>('/v3/lease/timetolive', { ID: leaseId });
    return Number(res.TTL ?? -1);
  }

  /** Revoke a lease (its keys are deleted at once). A lease that is already gone is not an error. */
  async revokeLease(leaseId: string): Promise<void> {
    try {
      await this.call('/v3/lease/revoke', { ID: leaseId });
    } catch (err) {
      if (!(err instanceof EtcdRequestError && err.code === GRPC_NOT_FOUND)) throw err;
    }
  }

  async put(key: string, value: string, leaseId?: string): Promise<void> {
    await this.call('/v3/kv/put', {
      key: b64(key),
      value: b64(value),
      ...(leaseId ? { lease: leaseId } : {}),
    });
  }

  /** Keys under `prefix` (or the single key `prefix` with exact), sorted by key, and the store revision. */
  async range(prefix: string, exact = false): Promise<{ revision: string; kvs: EtcdKv[] }> {
    const res = await this.call<{ header: { revision: string }; kvs?: RawKv[] }>('/v3/kv/range', {
      key: b64(prefix),
      ...(exact ? {} : { range_end: prefixRangeEnd(prefix) }),
    });
    return { revision: res.header.revision, kvs: (res.kvs ?? []).map(toKv) };
  }

  async deleteKey(key: string): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: b64(key) });
  }

  /**
   * Stream changes under `prefix` from `startRevision` on. One endpoint, no retry: when the stream ends the
   * caller re-reads and opens a new one. `close()` ends it quietly.
   */
  openWatch(prefix: string, startRevision: string, handlers: WatchStreamHandlers): { close(): void } {
    const abort = new AbortController();
    const request = {
      create_request: { key: b64(prefix), range_end: prefixRangeEnd(prefix), start_revision: startRevision },
    };
    const run = async () => {
      const headers = await this.authHeaders(this.requestTimeoutMs);
      const res = await this.post(`${this.endpoint}/v3/watch`, request, headers, abort.signal);
      if (res.status !== 200 || !res.body) throw new Error(`etcd /v3/watch answered HTTP ${res.status}`);
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line) this.handleWatchLine(line, handlers);
        }
      }
      throw new Error('etcd closed the watch stream');
    };
    run().catch((err: Error) => {
      if (!abort.signal.aborted) handlers.onEnd(err);
    });
    return { close: () => abort.abort() };
  }

  private handleWatchLine(line: string, handlers: WatchStreamHandlers): void {
    const message = JSON.parse(line) as {
      error?: { message?: string };
      result?: {
        canceled?: boolean;
        compact_revision?: string;
        cancel_reason?: string;
        events?: (RawKv & object)[];
      };
    };
    if (message.error)
      throw new Error(`etcd watch error: ${message.error.message ?? JSON.stringify(message.error)}`);
    const result = message.result;
    if (!result) return;
    if (result.canceled) {
      const why = result.compact_revision
        ? `compacted at revision ${result.compact_revision}`
        : result.cancel_reason;
      throw new Error(`etcd canceled the watch (${why ?? 'no reason given'})`);
    }
    const events = (result.events ?? []) as { type?: string; kv?: RawKv }[];
    if (events.length === 0) return;
    handlers.onEvents(
      events.map(
        (e) => ({ type: e.type === 'DELETE' ? 'delete' : 'put', kv: toKv(e.kv ?? {}) }) as EtcdWatchEvent,
      ),
    );
  }
}

async function* emptyBody(): AsyncIterable<Uint8Array> {}
