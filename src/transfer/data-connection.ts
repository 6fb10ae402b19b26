/**
 * The initiator's end of one data connection: sends a request frame and receives the answer with the
 * kernel writing the payload STRAIGHT INTO the destination KV blocks.
 *
 * node:net's `onread` option lets us choose the buffer of every read(2) before it happens (libuv asks for
 * the next buffer after each read). We always hand it exactly the bytes still missing from the item being
 * received — the 4-byte length prefix, the JSON header, then each destination block run in turn — so no
 * byte lands anywhere but its final place: the receive side makes zero user-space copies, like an RDMA
 * READ landing in registered memory. Sending gathers straight from the registered memory in batched
 * writev(2) calls (view-writer.ts): zero user-space copies there too.
 *
 * One transfer at a time per connection (the pool opens more for concurrency).
 */
import { connect, type Socket } from 'node:net';
import {
  CHALLENGE_BYTES,
  type ClusterSecret,
  HandshakeDialler,
  PROOF_BYTES,
} from '../util/cluster-secret.ts';
import {
  errorFromWire,
  PeerClosedError,
  TransferError,
  TransferProtocolError,
  TransferTimeoutError,
} from './errors.ts';
import { netTarget, type StreamAddress } from './stream-address.ts';
import type { TransferCounters } from './transport.ts';
import {
  decodeResponse,
  encodeFrame,
  headerLength,
  type NotifHeader,
  type ResponseHeader,
  type TransferHeader,
  totalBytes,
} from './wire.ts';
import { writeFrameAndViews } from './view-writer.ts';

/** 'handshake': reading a cluster-secret CHALLENGE or PROOF (util/cluster-secret.ts), before any frame. */
type Phase = 'prefix' | 'header' | 'payload' | 'handshake';
type OkResponse = Extract<ResponseHeader, { type: 'ok' }>;

/** What the transfer in flight wants from the next response: payload views for an ok, then done. */
interface Waiter {
  onHeader(header: OkResponse): Uint8Array[];
  done(err?: Error): void;
}

export class DataConnection {
  private readonly socket: Socket;
  private readonly prefix = new Uint8Array(4);
  private phase: Phase = 'prefix';
  /** The item being received and how much of it is in. */
  private current: Uint8Array = this.prefix;
  private filled = 0;
  private payload: Uint8Array[] = [];
  private payloadIndex = 0;
  private received = 0;
  private waiter: Waiter | null = null;
  private lastError: Error | null = null;
  private closed = false;
  /**
   * The cluster-secret handshake in flight (util/cluster-secret.ts). It is read through `onread` like
   * everything else, and node takes the buffer for the NEXT read when the previous one completes (the first
   * at construction), so each handshake buffer is armed synchronously: at construction, then in onRead.
   */
  private handshake: {
    dialler: HandshakeDialler;
    step: 'challenge' | 'proof';
    settle(err?: Error): void;
    done: Promise<void>;
  } | null = null;

  private constructor(
    readonly address: string,
    target: StreamAddress,
    private readonly counters: TransferCounters,
    clusterSecret?: ClusterSecret,
  ) {
    if (clusterSecret) this.armHandshake(clusterSecret);
    this.socket = connect({
      ...netTarget(target),
      onread: {
        buffer: () => this.current.subarray(this.filled),
        callback: (n) => {
          this.onRead(n);
          return true; // keep reading
        },
      },
    });
    if (target.kind === 'tcp') this.socket.setNoDelay(true);
    this.socket.on('error', (err) => {
      this.lastError = err;
    });
    this.socket.on('close', () => this.onClose());
  }

  /**
   * Connect (and, with a cluster secret, prove it and check the target's proof before any request goes
   * out); rejects with PeerClosedError (cause: the socket error) if nobody listens there.
   */
  static open(
    address: string,
    target: StreamAddress,
    counters: TransferCounters,
    timeoutMs: number,
    clusterSecret?: ClusterSecret,
  ) {
    const conn = new DataConnection(address, target, counters, clusterSecret);
    return new Promise<DataConnection>((resolve, reject) => {
      const timer = setTimeout(
        () => conn.destroy(new TransferTimeoutError(`connecting to ${address} took over ${timeoutMs} ms`)),
        timeoutMs,
      );
      conn.socket.once('connect', () => {
        if (!clusterSecret) {
          clearTimeout(timer);
          resolve(conn);
          return;
        }
        (conn.handshake?.done ?? Promise.resolve()).then(
          () => {
            clearTimeout(timer);
            resolve(conn);
          },
          (err: Error) => {
            clearTimeout(timer);
            const refused = new PeerClosedError(
              `Cluster-secret handshake with transfer agent at ${address} failed (${err.message}); start every ` +
                'worker with the same --cluster-secret-file.',
              { cause: err },
            );
            conn.destroy(refused);
            reject(refused);
          },
        );
      });
      conn.socket.once('close', () => {
        clearTimeout(timer);
        if (conn.lastError instanceof TransferTimeoutError) return reject(conn.lastError);
        reject(
          new PeerClosedError(
            `Cannot open a data connection to transfer agent at ${address}. Check that the peer is running and ` +
              'that its published address is reachable from here.',
            { cause: conn.lastError },
          ),
        );
      });
    });
  }

  get usable(): boolean {
    return !this.closed && !this.socket.destroyed && this.waiter === null;
  }

  /** READ: receive into `local`. WRITE: send `local`. Then wait for the target's answer. */
  transfer(header: TransferHeader, local: Uint8Array[], timeoutMs: number): Promise<void> {
    const expected = totalBytes(local);
    const done = this.expectResponse(timeoutMs, `${header.type} of ${expected} bytes`, (answer) => {
      if (answer.bytes !== expected)
        throw new TransferProtocolError(
          `${this.address} answered ${answer.bytes} bytes, expected ${expected}`,
        );
      if (header.type === 'write') return [];
      this.counters.bytesReceived += expected;
      return local;
    });
    const { notif, ...request } = header;
    if (header.type === 'read') {
      this.socket.write(encodeFrame(request));
      // The notification travels after the bytes arrived: the target may free the blocks once it sees it.
      return notif === undefined
        ? done
        : done.then(() => this.sendNotif({ type: 'notif', from: header.from, message: notif }));
    }
    // Errors surface through the socket's close → the response waiter; nothing to catch here.
    void writeFrameAndViews(this.socket, encodeFrame(header), local);
    this.counters.bytesSent += expected;
    return done;
  }

  /** Fire-and-forget on the wire (no answer), ordered after everything sent before it. */
  sendNotif(notif: NotifHeader): void {
    this.socket.write(encodeFrame(notif));
  }

  destroy(err?: Error): void {
    if (err && !this.lastError) this.lastError = err;
    this.socket.destroy();
  }

  private expectResponse(timeoutMs: number, what: string, onHeader: (h: OkResponse) => Uint8Array[]) {
    return new Promise<void>((resolve, reject) => {
      if (this.closed) return reject(new PeerClosedError(`data connection to ${this.address} is closed`));
      const timer = setTimeout(() => {
        const err = new TransferTimeoutError(
          `${what} with ${this.address} did not finish within ${timeoutMs} ms (${this.received} payload bytes in). ` +
            'Check that the peer is alive and not overloaded; raise the transfer timeout for very large transfers.',
        );
        this.finish(err);
        this.destroy(err);
      }, timeoutMs);
      this.received = 0;
      this.waiter = {
        onHeader,
        done: (err) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        },
      };
    });
  }

  private armHandshake(secret: ClusterSecret): void {
    let settle: (err?: Error) => void = () => {};
    const done = new Promise<void>((resolve, reject) => {
      settle = (err) => (err ? reject(err) : resolve());
    });
    done.catch(() => {}); // observed by open(); a connection closed before then must not crash the process
    this.handshake = { dialler: new HandshakeDialler(secret), step: 'challenge', settle, done };
    this.expect('handshake', new Uint8Array(CHALLENGE_BYTES));
  }

  /** A whole CHALLENGE or PROOF is in `this.current`: answer it and arm the next buffer before returning. */
  private handshakeStep(): void {
    const handshake = this.handshake as NonNullable<typeof this.handshake>;
    const message = this.current;
    try {
      if (handshake.step === 'challenge') {
        const response = handshake.dialler.respond(message);
        handshake.step = 'proof';
        this.expect('handshake', new Uint8Array(PROOF_BYTES));
        this.socket.write(response);
        return;
      }
      this.expect('prefix', this.prefix);
      this.handshake = null;
      if (!handshake.dialler.checkProof(message))
        throw new TransferProtocolError('the peer does not hold the same cluster secret');
      handshake.settle();
    } catch (err) {
      this.handshake = null;
      this.expect('prefix', this.prefix);
      handshake.settle(err as Error);
    }
  }

  /** One read(2) of `n` bytes landed in `this.current` at `this.filled`. */
  private onRead(n: number): void {
    if (this.phase === 'handshake') {
      this.filled += n;
      if (this.filled === this.current.byteLength) this.handshakeStep();
      return;
    }
    this.filled += n;
    if (this.phase === 'payload') this.received += n;
    if (this.filled < this.current.byteLength) return;
    try {
      this.advance();
    } catch (err) {
      this.finish(err as Error);
      this.destroy(err as Error);
    }
  }

  private advance(): void {
    if (this.phase === 'prefix') {
      if (!this.waiter) throw new TransferProtocolError(`${this.address} sent bytes nobody asked for`);
      this.expect('header', new Uint8Array(headerLength(this.prefix)));
      return;
    }
    if (this.phase === 'header') {
      const answer = decodeResponse(this.current);
      if (answer.type === 'error') {
        // A refusal has no payload: the stream stays in sync and the connection stays usable.
        this.finish(errorFromWire(answer.name, answer.message, this.address));
        return;
      }
      this.payload = (this.waiter as Waiter).onHeader(answer).filter((v) => v.byteLength > 0);
      this.payloadIndex = 0;
    } else this.payloadIndex++;
    const next = this.payload[this.payloadIndex];
    if (next) this.expect('payload', next);
    else this.finish();
  }

  private expect(phase: Phase, buffer: Uint8Array): void {
    this.phase = phase;
    this.current = buffer;
    this.filled = 0;
  }

  /** Settle the transfer in flight and get ready for the next response's length prefix. */
  private finish(err?: Error): void {
    this.expect('prefix', this.prefix);
    this.payload = [];
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.done(err);
  }

  private onClose(): void {
    this.closed = true;
    this.handshake?.settle(new PeerClosedError('the peer closed the connection during the handshake'));
    this.handshake = null;
    if (!this.waiter) return;
    const cause = this.lastError;
    this.finish(
      cause instanceof TransferError
        ? cause
        : new PeerClosedError(
            `Data connection to transfer agent at ${this.address} closed mid-transfer (${this.received} payload ` +
              'bytes in). The peer died, closed, or dropped its registration; the destination blocks hold partial data.',
            { cause },
          ),
    );
  }
}
