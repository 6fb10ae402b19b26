/**
 * The engine side of pipeline parallelism: a StepExecutor that runs stage 0 (embedding + its layers) here
 * and drives stages 1..p−1 in other processes over a chain of TCP connections. One step's batch is cut
 * into m micro-batches by sequence; stage 0 computes micro-batch j+1 while stage 1 works on j (GPipe's
 * schedule, forward only), and the logits come back up the chain. Like a packet pipeline of line cards:
 * each card works on a different packet of the same burst.
 *
 *   engine process (stage 0)                 stage 1 process                 stage 2 process (last)
 *   mb0: embed+layers ─forward{mb0}+hidden─▶ layers ─forward{mb0}+hidden─▶ layers+norm+head
 *   mb1: embed+layers ─▶ …                   mb0 done, mb1 …                mb0 ─logits{mb0}─▶ relayed ─▶ sample
 *
 * One scheduler and one logical KV cache: every stage allocated the same number of blocks at setup, and
 * each forward frame carries the block tables and slot mapping, so block id b means the same cache rows
 * (its own layers' rows) on every stage. A stage that dies (its connection closes, or it reports an
 * error) breaks the pipeline: the step in flight and every later one fail with a PipelineStageError.
 */
import type { ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { heldWeightBytes, type KvCacheTensors, kvCacheBytes, type LlamaModel } from '../../model/index.ts';
import { DhwError } from '../../util/errors.ts';
import { getLogger } from '../../util/logger.ts';
import {
  type BlockTableLookup,
  buildForwardBatch,
  type StepExecutor,
  sampleSequence,
} from '../model-runner.ts';
import type { SampleResult } from '../sampler.ts';
import type { SchedulerOutput } from '../scheduler.ts';
import { splitIntoMicroBatches } from './micro-batches.ts';
import { parseHostPort } from './stage-address.ts';
import {
  FrameReader,
  modelShape,
  type StageBusy,
  type StageMessage,
  type StageReport,
  sendFrame,
  toWireBatch,
  wallMs,
} from './stage-wire.ts';

const log = getLogger('pipeline');

/** Setup is connecting the chain and allocating each stage's KV cache: seconds at most. */
const SETUP_TIMEOUT_MS = 60_000;

export class PipelineStageError extends DhwError {}

export interface PipelineExecutorOptions {
  /** Stage 0's part of the model (embedding + first layers) and its KV cache. */
  model: LlamaModel;
  kvTensors: KvCacheTensors;
  blockTable: BlockTableLookup;
  vocabSize: number;
  /** Micro-batches per step (at most the step's sequence count). */
  microBatches: number;
  /** addresses[i] = stage i+1's `host:port`. */
  addresses: string[];
  /** Stage processes this engine spawned (killed on close; their death is reported by pid). */
  children?: ChildProcess[];
}

interface Pending<T = Float32Array> {
  resolve: (value: T) => void;
  reject: (err: Error) => void;
}

/** Bytes that crossed stage links, for the benchmark's "bytes per token". */
export interface PipelineTraffic {
  hiddenBytes: number;
  logitsBytes: number;
  tokens: number;
}

export class PipelineExecutor implements StepExecutor {
  /** What each stage holds (stage 0 first), from setup. */
  readonly stages: StageReport[];
  private readonly pending = new Map<number, Pending>();
  private readonly statsWaiters: Array<Pending<StageBusy[]>> = [];
  private broken: PipelineStageError | null = null;
  private nextMb = 0;
  private busy: Array<[number, number]> = [];
  private closing = false;
  readonly traffic: PipelineTraffic = { hiddenBytes: 0, logitsBytes: 0, tokens: 0 };

  private constructor(
    private readonly opts: PipelineExecutorOptions,
    private readonly socket: Socket,
    remote: StageReport[],
  ) {
    this.stages = [this.localReport(), ...remote];
  }

  /** Connect to stage 1, set the chain up (each stage allocates its KV cache), wait until all are ready. */
  static async connect(opts: PipelineExecutorOptions): Promise<PipelineExecutor> {
    const first = opts.addresses[0];
    if (first === undefined) throw new PipelineStageError('a pipeline needs the address of stage 1');
    const socket = connect(parseHostPort(first));
    socket.setNoDelay(true);
    let executor: PipelineExecutor | null = null;
    const ready = new Promise<StageReport[]>((resolve, reject) => {
      const early = (err: Error) =>
        reject(new PipelineStageError(`pipeline stage 1 at ${first}: ${err.message}`));
      socket.once('error', early);
      socket.once('close', () => early(new Error('connection closed during setup')));
      socket.once('connect', () => {
        const kv = opts.kvTensors;
        sendFrame(socket, {
          type: 'setup',
          numBlocks: kv.numBlocks,
          blockSize: kv.blockSize,
          addresses: opts.addresses,
        });
      });
      new FrameReader(
        socket,
        (message, payload) => {
          if (executor) executor.onFrame(message, payload);
          else if (message.type === 'ready') resolve(message.stages);
          else if (message.type === 'error') reject(new PipelineStageError(message.message));
        },
        (err) => (executor ? executor.breakWith(err.message) : reject(err)),
      );
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new PipelineStageError(
              `pipeline stages not ready within ${SETUP_TIMEOUT_MS / 1000} s (stage 1 at ${first})`,
            ),
          ),
        SETUP_TIMEOUT_MS,
      );
    });
    let remote: StageReport[];
    try {
      remote = await Promise.race([ready, timeout]);
    } catch (err) {
      socket.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    socket.removeAllListeners('error').removeAllListeners('close');
    executor = new PipelineExecutor(opts, socket, remote);
    const mismatch = chainProblem(executor.stages);
    if (mismatch) {
      socket.destroy();
      throw new PipelineStageError(`the pipeline's stages do not fit together: ${mismatch}`);
    }
    executor.watch();
    return executor;
  }

  async execute(output: SchedulerOutput): Promise<Array<SampleResult | undefined>> {
    if (this.broken) throw this.broken;
    const { model, kvTensors } = this.opts;
    const groups = splitIntoMicroBatches(output.scheduled, this.opts.microBatches);
    const logits: Array<Promise<Float32Array>> = [];
    for (const group of groups) {
      const batch = buildForwardBatch(
        { ...output, scheduled: group },
        this.opts.blockTable,
        kvTensors.blockSize,
      );
      const started = wallMs();
      const hidden = model.forward(batch, kvTensors); // stage 0: embedding + its layers
      this.busy.push([started, wallMs()]);
      const mb = this.nextMb++;
      const result = new Promise<Float32Array>((resolve, reject) =>
        this.pending.set(mb, { resolve, reject }),
      );
      result.catch(() => {}); // awaited below; a break before then must not be an unhandled rejection
      logits.push(result);
      sendFrame(
        this.socket,
        { type: 'forward', mb, batch: toWireBatch(batch), rows: batch.tokenIds.length },
        hidden,
      );
      this.traffic.hiddenBytes += hidden.byteLength;
      this.traffic.tokens += batch.tokenIds.length;
      // Let the socket flush this micro-batch before computing the next one, so stage 1 starts on it now.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.broken) throw this.broken;
    }
    const rows = await Promise.all(logits);
    return groups.flatMap((group, j) => this.sample(group, rows[j]!));
  }

  /** Busy intervals of every stage since the last reset (stage 0 first), for the bubble measurement. */
  async stageBusy(reset = false): Promise<StageBusy[]> {
    if (this.broken) throw this.broken;
    const remote = new Promise<StageBusy[]>((resolve, reject) => this.statsWaiters.push({ resolve, reject }));
    sendFrame(this.socket, { type: 'stats', reset });
    const mine: StageBusy = { stage: 0, intervals: this.busy };
    this.busy = reset ? [] : [...this.busy];
    return [mine, ...(await remote)];
  }

  async close(): Promise<void> {
    this.closing = true;
    this.socket.destroy();
    await Promise.all(
      (this.opts.children ?? []).map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
  }

  private sample(group: SchedulerOutput['scheduled'], logits: Float32Array): Array<SampleResult | undefined> {
    const vocab = this.opts.vocabSize;
    let j = 0;
    return group.map(({ seq, sample }) => {
      if (!sample) return undefined;
      const row = logits.subarray(j * vocab, (j + 1) * vocab);
      j++;
      return sampleSequence(seq, row);
    });
  }

  private onFrame(message: StageMessage, payload: Float32Array): void {
    if (message.type === 'logits') {
      this.traffic.logitsBytes += payload.byteLength;
      const p = this.pending.get(message.mb);
      this.pending.delete(message.mb);
      p?.resolve(payload);
    } else if (message.type === 'stats') {
      this.statsWaiters.shift()?.resolve(message.stages ?? []);
    } else if (message.type === 'error') {
      this.breakWith(message.message);
    }
  }

  /** A dead stage must fail the step in flight, not hang it: watch the connection and the children. */
  private watch(): void {
    const first = this.opts.addresses[0];
    this.socket.on('error', (err) =>
      this.breakWith(`lost pipeline stage 1 at ${first} (${err.message}): did its process die?`),
    );
    this.socket.on('close', () =>
      this.breakWith(`pipeline stage 1 at ${first} closed its connection: did its process die?`),
    );
    (this.opts.children ?? []).forEach((child, i) => {
      child.once('exit', (code, signal) =>
        this.breakWith(`pipeline stage ${i + 1} (pid ${child.pid}) exited with ${signal ?? `code ${code}`}`),
      );
    });
  }

  private breakWith(reason: string): void {
    if (this.closing || this.broken) return;
    this.broken = new PipelineStageError(
      `pipeline broken: ${reason} Requests on this engine fail until it is restarted with all its stages.`,
    );
    log.error('pipeline broken', { reason });
    for (const p of [...this.pending.values(), ...this.statsWaiters]) p.reject(this.broken);
    this.pending.clear();
    this.statsWaiters.length = 0;
  }

  private localReport(): StageReport {
    const p = this.opts.model.part;
    return {
      stage: 0,
      pid: process.pid,
      host: 'local',
      model: modelShape(this.opts.model.config),
      numStages: this.opts.addresses.length + 1,
      layers: [p.start, p.end],
      embed: p.embed,
      head: p.head,
      weightBytes: heldWeightBytes(this.opts.model.weights),
      kvBytes: kvCacheBytes(this.opts.kvTensors),
      rssBytes: process.memoryUsage().rss,
    };
  }
}

/**
 * Stages started by hand may belong to another model or another split: refuse a chain whose stages do not
 * cover the layers 0..L−1 in order, once each, for one model shape and one stage count (else: garbage).
 */
export function chainProblem(stages: readonly StageReport[]): string | null {
  const first = stages[0]!;
  for (let i = 0; i < stages.length; i++) {
    const s = stages[i]!;
    const where = `stage ${i} (pid ${s.pid}, ${s.host})`;
    if (s.stage !== i) return `${where} says it is stage ${s.stage}`;
    if (s.model !== first.model)
      return `${where} loaded a ${s.model} model (layers x hidden x vocab), stage 0 ${first.model}`;
    if (s.numStages !== stages.length)
      return `${where} was started for ${s.numStages} stages, the pipeline has ${stages.length}`;
    const start = i === 0 ? 0 : stages[i - 1]!.layers[1];
    if (s.layers[0] !== start) return `${where} holds layers from ${s.layers[0]}, expected ${start}`;
    if (s.head !== (i === stages.length - 1)) return `${where} ${s.head ? 'holds' : 'lacks'} the LM head`;
  }
  return null;
}
