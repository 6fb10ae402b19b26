/**
 * The in-process backend: a target's views are copied straight into (or out of) the initiator's, one
 * `TypedArray.set` per byte. Same contract as TCP and Unix sockets (same refusals, same notification
 * order), for embedded mode (`dhw serve` with prefill and decode workers in one process) and unit tests.
 * Addresses are "memory://<name>" in a per-process registry, like a loopback interface.
 */
import { randomBytes } from 'node:crypto';
import { copyViews } from './byte-copy.ts';
import { errorFromWire, PeerClosedError, TransferTimeoutError, wireErrorName } from './errors.ts';
import {
  type KvTransport,
  newCounters,
  type TransferCounters,
  type TransferTarget,
  type TransportListener,
} from './transport.ts';
import type { NotifHeader, TransferHeader } from './wire.ts';

interface Listening {
  target: TransferTarget;
  closed: boolean;
  /** The target's transport counters: it "sent" what a READ copied out of it, as over TCP. */
  counters: TransferCounters;
}

const listening = new Map<string, Listening>();

export class MemoryTransport implements KvTransport {
  readonly kind = 'memory' as const;
  readonly counters = newCounters();

  async listen(target: TransferTarget): Promise<TransportListener> {
    const address = `memory://${randomBytes(6).toString('hex')}`;
    const entry: Listening = { target, closed: false, counters: this.counters };
    listening.set(address, entry);
    return {
      address,
      close: async () => {
        entry.closed = true;
        listening.delete(address);
      },
    };
  }

  async transfer(
    address: string,
    header: TransferHeader,
    local: Uint8Array[],
    timeoutMs: number,
  ): Promise<void> {
    const entry = this.lookup(address);
    const remote = await this.prepare(entry, address, header, timeoutMs);
    if (entry.closed)
      throw new PeerClosedError(
        `transfer agent at ${address} closed during the ${header.type}; nothing more was copied`,
      );
    const copied = header.type === 'read' ? copyViews(remote, local) : copyViews(local, remote);
    this.counters.userCopiedBytes += copied;
    if (header.type === 'read') {
      this.counters.bytesReceived += copied;
      entry.counters.bytesSent += copied;
    } else {
      this.counters.bytesSent += copied;
      entry.counters.bytesReceived += copied;
    }
    if (header.notif !== undefined) entry.target.notify(header.from, header.notif);
  }

  async sendNotif(address: string, notif: NotifHeader): Promise<void> {
    this.lookup(address).target.notify(notif.from, notif.message);
  }

  async close(): Promise<void> {}

  private lookup(address: string): Listening {
    const entry = listening.get(address);
    if (!entry)
      throw new PeerClosedError(
        `no transfer agent listens at ${address} in this process: it closed or never started`,
      );
    return entry;
  }

  /** The target's views, with its refusals rebuilt as on the wire and a deadline on a target that stalls. */
  private async prepare(entry: Listening, address: string, header: TransferHeader, timeoutMs: number) {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new TransferTimeoutError(`${header.type} with ${address} did not finish within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([Promise.resolve().then(() => entry.target.prepare(header)), deadline]);
    } catch (err) {
      if (err instanceof TransferTimeoutError) throw err;
      throw errorFromWire(wireErrorName(err), (err as Error).message, address);
    } finally {
      clearTimeout(timer);
    }
  }
}
