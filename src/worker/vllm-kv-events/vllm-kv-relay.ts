/**
 * Subscribes to a vLLM engine's KV event publisher (ZeroMQ PUB, `--kv-events-config
 * '{"enable_kv_cache_events": true, "publisher": "zmq", "endpoint": "tcp://*:5557", "replay_endpoint":
 * "tcp://*:5558"}'`) and re-emits its events as ours, so the worker's KvEventPublisher ships them to the
 * routers exactly like our own engine's (`--router kv` then routes vLLM workers by prefix overlap).
 *
 * Like a log-shipping agent tailing another system's replication stream: each PUB message is
 * [topic, seq (8-byte big-endian), KVEventBatch msgpack]. Sequence numbers run 0, 1, 2... per vLLM process.
 * A gap (PUB drops messages past its high-water mark, or we connected late) is repaired from vLLM's replay
 * socket (ROUTER): we send [empty, start seq], it answers [empty, seq, payload] per buffered batch from
 * `start` on, then [empty, -1, empty]. What the buffer no longer holds is lost: we then emit `cleared`
 * (routers forget this worker's blocks, which costs cache hits but never misroutes) and relearn from new
 * events. Without a replay endpoint every gap ends that way.
 */
import type { Dealer, Subscriber } from 'zeromq';
import type { KvCacheEvent } from '../../protocols/kv-events.ts';
import { KvEventEmitter } from '../../kv/kv-event-emitter.ts';
import type { Logger } from '../../util/logger.ts';
import { DhwError } from '../../util/errors.ts';
import { VllmKvTranslator } from './vllm-kv-translator.ts';
import { decodeVllmEventBatch, VllmWireError } from './vllm-kv-wire.ts';

export interface VllmKvRelayOptions {
  /** vLLM's PUB endpoint, `zmq://HOST:PORT` or `tcp://HOST:PORT`. */
  endpoint: string;
  /** vLLM's replay (ROUTER) endpoint; without one, gaps are not repaired. */
  replayEndpoint?: string;
  /** The block size vLLM runs with (`--block-size`), which this worker advertises to the routers. */
  blockSize: number;
  log: Logger;
  /** How long to wait for a replay answer before giving up on it (default 2000 ms). */
  replayTimeoutMs?: number;
}

/** A `--kv-events` value we cannot use. */
export class KvEventsEndpointError extends DhwError {}

const END_SEQ = -1n;

type Zmq = typeof import('zeromq');

/**
 * zeromq is a native addon: loaded on first use, so a worker without --kv-events never loads it (and a
 * platform without a prebuilt binary only fails the workers that ask for vLLM events, with a message).
 */
async function loadZmq(): Promise<Zmq> {
  try {
    return await import('zeromq');
  } catch (cause) {
    throw new KvEventsEndpointError(
      `--kv-events needs the zeromq package's native binary, which did not load on ${process.platform}-${process.arch} ` +
        `(${(cause as Error).message}); reinstall with \`npm rebuild zeromq\` (needs cmake) or run the worker without --kv-events`,
      { cause },
    );
  }
}

/** `zmq://host:port` (our flag's spelling) → ZeroMQ's `tcp://host:port`. */
export function zmqAddress(endpoint: string): string {
  const match = /^(?:zmq|tcp):\/\/([^/:]+|\[[^\]]+\]):(\d+)$/.exec(endpoint);
  if (!match) {
    throw new KvEventsEndpointError(
      `--kv-events ${endpoint}: expected zmq://HOST:PORT (vLLM's kv-events endpoint, e.g. zmq://127.0.0.1:5557)`,
    );
  }
  return `tcp://${match[1]}:${match[2]}`;
}

export class VllmKvRelay {
  /** Our KV events, ids 1, 2, 3... (what KvEventPublisher subscribes to, like a KvCacheManager's). */
  readonly events = new KvEventEmitter();
  readonly translator: VllmKvTranslator;
  private sub: Subscriber | undefined;
  private zmq: Zmq | undefined;
  private readonly address: string;
  private readonly replayAddress: string | undefined;
  private lastSeq: bigint | null = null;
  private loop: Promise<void> | undefined;
  readonly counts = { batches: 0, replayed: 0, lost: 0, undecodable: 0 };

  constructor(private readonly opts: VllmKvRelayOptions) {
    this.address = zmqAddress(opts.endpoint);
    this.replayAddress = opts.replayEndpoint === undefined ? undefined : zmqAddress(opts.replayEndpoint);
    this.translator = new VllmKvTranslator(opts.blockSize);
  }

  /** Connect (ZeroMQ connects lazily: vLLM may start later) and start tailing. */
  async start(): Promise<void> {
    if (this.sub) return;
    this.zmq = await loadZmq();
    const sub = new this.zmq.Subscriber();
    this.sub = sub;
    sub.connect(this.address);
    sub.subscribe();
    this.loop = this.tail(sub).catch((err: unknown) => {
      if (!sub.closed) this.opts.log.error('vLLM KV event subscriber stopped', { error: err });
    });
    this.opts.log.info('subscribed to vLLM KV events', {
      endpoint: this.address,
      replay: this.replayAddress ?? 'none',
    });
  }

  async stop(): Promise<void> {
    this.sub?.close();
    await this.loop;
    this.opts.log.info('vLLM KV event relay stopped', {
      ...this.counts,
      blocks: this.translator.size,
      skipped: this.translator.skipped,
    });
  }

  /** The translated table as `stored` events, for a router's kv_snapshot. */
  dumpCachedBlocks(): KvCacheEvent[] {
    return this.translator.dump(this.events.lastEventId);
  }

  private async tail(sub: Subscriber): Promise<void> {
    for await (const frames of sub) {
      if (frames.length !== 3 || frames[1]!.length !== 8) continue; // not vLLM's [topic, seq, payload]
      const seq = frames[1]!.readBigInt64BE(0);
      if (seq < this.nextSeq()) this.restarted(seq);
      if (seq > this.nextSeq()) await this.repair(this.nextSeq(), seq);
      this.apply(seq, frames[2]!);
    }
  }

  /**
   * A seq below the next expected one: SUB never repeats a message and replays never overlap it, so this
   * is a new vLLM process numbering from 0 again, with an empty cache. Forget the old one's blocks.
   */
  private restarted(seq: bigint): void {
    this.opts.log.warn('vLLM KV event sequence restarted: the engine restarted; forgetting its blocks', {
      seq: seq.toString(),
      last: this.lastSeq?.toString(),
    });
    const hadState = this.translator.size > 0;
    this.translator.clear();
    if (hadState) this.events.emit({ type: 'cleared' });
    this.lastSeq = null;
  }

  /** The seq that should come next: vLLM numbers from 0. */
  private nextSeq(): bigint {
    return this.lastSeq === null ? 0n : this.lastSeq + 1n;
  }

  /**
   * Batches [from, until) went missing. The replay buffer holds a suffix of the stream: apply what it has
   * of the range, in order; what lies before that suffix is lost.
   */
  private async repair(from: bigint, until: bigint): Promise<void> {
    const replayed = this.replayAddress
      ? (await this.replay(from)).filter(([seq]) => seq >= from && seq < until)
      : [];
    const first = replayed[0]?.[0] ?? until;
    if (first > from) this.lose(from, first);
    for (const [seq, payload] of replayed) {
      if (seq !== this.nextSeq()) continue; // a duplicate in the answer
      this.apply(seq, payload);
      this.counts.replayed++;
    }
    if (this.nextSeq() < until) this.lose(this.nextSeq(), until);
  }

  /**
   * Batches [from, until) are gone for good: forget every block (routers too, through `cleared`) and go on
   * from `until`. On a first connection there was nothing to forget: vLLM simply published before we came.
   */
  private lose(from: bigint, until: bigint): void {
    const hadState = this.lastSeq !== null || this.translator.size > 0;
    this.counts.lost += Number(until - from);
    this.opts.log.warn('vLLM KV events lost; routers forget this worker and relearn from new events', {
      from: from.toString(),
      until: until.toString(),
      replay: this.replayAddress ?? 'none',
    });
    this.translator.clear();
    if (hadState) this.events.emit({ type: 'cleared' });
    this.lastSeq = until - 1n;
  }

  /** One replay round trip: [empty, start] out; [empty, seq, payload]... then [empty, -1, empty] back. */
  private async replay(from: bigint): Promise<[bigint, Buffer][]> {
    const dealer: Dealer = new this.zmq!.Dealer({
      receiveTimeout: this.opts.replayTimeoutMs ?? 2000,
      linger: 0,
    });
    const got: [bigint, Buffer][] = [];
    try {
      dealer.connect(this.replayAddress!);
      const start = Buffer.alloc(8);
      start.writeBigInt64BE(from);
      await dealer.send([Buffer.alloc(0), start]);
      for (;;) {
        const [, seqBytes, payload] = await dealer.receive();
        const seq = seqBytes!.readBigInt64BE(0);
        if (seq === END_SEQ) break;
        got.push([seq, payload!]);
      }
    } catch (err) {
      this.opts.log.warn('vLLM KV replay failed', { endpoint: this.replayAddress, error: err });
    } finally {
      dealer.close();
    }
    return got;
  }

  private apply(seq: bigint, payload: Buffer): void {
    this.lastSeq = seq;
    let batch: ReturnType<typeof decodeVllmEventBatch>;
    try {
      batch = decodeVllmEventBatch(payload);
    } catch (err) {
      if (!(err instanceof VllmWireError)) throw err;
      this.counts.undecodable++;
      this.opts.log.warn('vLLM KV event batch not decodable; skipped', { seq: seq.toString(), error: err });
      return;
    }
    this.counts.batches++;
    for (const event of batch.events) {
      const ours = this.translator.translate(event);
      if (ours) this.events.emit(ours);
    }
  }
}
