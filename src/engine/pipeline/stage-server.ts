/**
 * A pipeline stage process (stages 1..p−1; stage 0 lives in the engine's process). It holds its layers'
 * weights and KV cache, accepts one connection from the stage before it, and for every `forward` frame runs
 * its layers and passes the hidden states on, or, on the last stage, the logits back. Like one filter in a
 * Unix pipeline: read a record from upstream, transform it, write it downstream; results from further
 * down are relayed back up the same connections, so each stage knows only its two neighbours.
 *
 * Lifetime: one upstream connection at a time. When it closes, the downstream connection and the KV cache
 * are dropped (the engine that owned the cache is gone); a process spawned by the engine then exits, one
 * started by hand (`dhw worker --pipeline-stage K`) waits for the next engine.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import {
  heldWeightBytes,
  type KvCacheTensors,
  kvCacheBytes,
  LlamaModel,
  loadModelConfig,
  type ModelOptions,
  splitLayers,
} from '../../model/index.ts';
import { DhwError } from '../../util/errors.ts';
import { getLogger } from '../../util/logger.ts';
import { parseHostPort } from './stage-address.ts';
import {
  FrameReader,
  fromWireBatch,
  modelShape,
  type StageBusy,
  type StageMessage,
  type StageReport,
  sendFrame,
  type WireBatch,
  wallMs,
} from './stage-wire.ts';

const log = getLogger('pipeline');

export interface StageServerOptions {
  modelDir: string;
  /** This stage's index, 1..numStages−1. */
  stage: number;
  numStages: number;
  /** Address to bind (default 127.0.0.1) and port (0 = a free one). */
  host?: string;
  port?: number;
  threads?: number;
  weightDtype?: ModelOptions['weightDtype'];
  /** Exit the process when the upstream connection closes (stages the engine spawned). */
  exitWhenUpstreamCloses?: boolean;
}

export class PipelineStageServer {
  private kv: KvCacheTensors | null = null;
  private upstream: Socket | null = null;
  private downstream: Socket | null = null;
  private busy: Array<[number, number]> = [];
  /** Our busy intervals for `stats` requests passed on downstream, waiting for the answer to add them to. */
  private readonly pendingStats: StageBusy[] = [];

  private constructor(
    readonly options: StageServerOptions,
    readonly model: LlamaModel,
    private readonly server: Server,
    readonly address: string,
  ) {}

  /** Load this stage's part of the model, then listen. */
  static async start(options: StageServerOptions): Promise<PipelineStageServer> {
    const { stage, numStages } = options;
    const parts = splitLayers(loadModelConfig(options.modelDir).numLayers, numStages);
    if (!Number.isInteger(stage) || stage < 1 || stage >= numStages) {
      throw new DhwError(
        `--pipeline-stage must be 1..${numStages - 1} (stage 0 is the engine), got ${stage}`,
      );
    }
    const model = await LlamaModel.load(options.modelDir, {
      threads: options.threads,
      weightDtype: options.weightDtype,
      part: parts[stage],
    });
    const server = createServer();
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
    const port = (server.address() as { port: number }).port;
    const self = new PipelineStageServer(options, model, server, `${host}:${port}`);
    server.on('connection', (socket) => self.accept(socket));
    log.info('pipeline stage listening', {
      stage,
      address: self.address,
      layers: `${model.part.start}-${model.part.end - 1}`,
    });
    return self;
  }

  async close(): Promise<void> {
    this.upstream?.destroy();
    this.downstream?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.model.close();
  }

  private accept(socket: Socket): void {
    if (this.upstream) {
      sendFrame(socket, {
        type: 'error',
        message: `pipeline stage ${this.options.stage} already serves an engine`,
      });
      socket.end();
      return;
    }
    socket.setNoDelay(true);
    this.upstream = socket;
    new FrameReader(
      socket,
      (message, payload) => this.fromUpstream(message, payload),
      (err) => log.error('bad frame from upstream', { error: err.message }),
    );
    socket.on('error', () => {}); // 'close' follows
    socket.on('close', () => this.upstreamClosed());
  }

  private upstreamClosed(): void {
    this.upstream = null;
    this.downstream?.destroy();
    this.downstream = null;
    this.kv = null;
    this.busy = [];
    this.pendingStats.length = 0;
    if (this.options.exitWhenUpstreamCloses) {
      log.info('engine connection closed: stage exits', { stage: this.options.stage });
      process.exit(0);
    }
  }

  private fromUpstream(message: StageMessage, payload: Float32Array): void {
    try {
      switch (message.type) {
        case 'setup':
          this.setup(message.numBlocks, message.blockSize, message.addresses);
          break;
        case 'forward':
          this.forward(message.mb, message.batch, payload);
          break;
        case 'stats':
          this.stats(message.reset === true);
          break;
        default:
          throw new Error(`unexpected ${message.type} frame from upstream`);
      }
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /** Allocate this stage's KV cache (same block ids as every stage), then chain the setup downstream. */
  private setup(numBlocks: number, blockSize: number, addresses: string[]): void {
    this.kv = this.model.allocateKvCache(numBlocks, blockSize);
    const report = this.report();
    if (this.model.part.head) {
      sendFrame(this.upstream!, { type: 'ready', stages: [report] });
      return;
    }
    const next = addresses[this.options.stage]; // addresses[i] is stage i+1
    if (next === undefined) throw new Error(`no address for pipeline stage ${this.options.stage + 1}`);
    const { host, port } = parseHostPort(next);
    const socket = connect({ host, port });
    socket.setNoDelay(true);
    this.downstream = socket;
    socket.once('connect', () => sendFrame(socket, { type: 'setup', numBlocks, blockSize, addresses }));
    new FrameReader(
      socket,
      (m, p) => this.fromDownstream(m, p, report),
      (err) => this.fail(err),
    );
    socket.on('error', (err) =>
      this.fail(
        new Error(
          `lost pipeline stage ${this.options.stage + 1} at ${next} (${err.message}): did its process die?`,
        ),
      ),
    );
    socket.on('close', () => {
      if (this.downstream === socket) {
        this.fail(
          new Error(
            `pipeline stage ${this.options.stage + 1} at ${next} closed its connection: did its process die?`,
          ),
        );
      }
    });
  }

  /** Run this stage's layers on micro-batch `mb`; pass the hidden states on, or the logits back. */
  private forward(mb: number, wire: WireBatch, hidden: Float32Array): void {
    if (!this.kv) throw new Error('forward before setup');
    const batch = fromWireBatch(wire);
    const started = wallMs();
    const out = this.model.forward(batch, this.kv, hidden);
    this.busy.push([started, wallMs()]);
    if (this.model.part.head)
      sendFrame(this.upstream!, { type: 'logits', mb, rows: wire.logitsRows.length }, out);
    else sendFrame(this.downstream!, { type: 'forward', mb, batch: wire, rows: wire.tokenIds.length }, out);
  }

  private stats(reset: boolean): void {
    if (this.model.part.head) {
      sendFrame(this.upstream!, { type: 'stats', stages: [this.takeBusy(reset)] });
    } else {
      sendFrame(this.downstream!, { type: 'stats', reset });
      this.pendingStats.push(this.takeBusy(reset));
    }
  }

  private takeBusy(reset: boolean): StageBusy {
    const mine: StageBusy = { stage: this.options.stage, intervals: this.busy };
    if (reset) this.busy = [];
    else this.busy = [...this.busy];
    return mine;
  }

  /** Results from further down go back up; this stage adds its own entry to readiness and stats. */
  private fromDownstream(message: StageMessage, payload: Float32Array, report: StageReport): void {
    const up = this.upstream;
    if (!up) return;
    if (message.type === 'ready') sendFrame(up, { type: 'ready', stages: [report, ...message.stages] });
    else if (message.type === 'stats')
      sendFrame(up, { type: 'stats', stages: [this.pendingStats.shift()!, ...(message.stages ?? [])] });
    else sendFrame(up, message, payload);
  }

  /** Tell the engine why (once), then hang up: the pipeline is broken until the engine restarts it. */
  private fail(err: Error): void {
    const up = this.upstream;
    if (!up || up.writableEnded) return; // already reported (a socket error is followed by its close)
    log.error('pipeline stage failed', { stage: this.options.stage, error: err.message });
    sendFrame(up, { type: 'error', message: `pipeline stage ${this.options.stage}: ${err.message}` });
    up.end();
  }

  private report(): StageReport {
    const p = this.model.part;
    const kv = this.kv!;
    return {
      stage: this.options.stage,
      pid: process.pid,
      host: this.address,
      model: modelShape(this.model.config),
      numStages: this.options.numStages,
      layers: [p.start, p.end],
      embed: p.embed,
      head: p.head,
      weightBytes: heldWeightBytes(this.model.weights),
      kvBytes: kvCacheBytes(kv),
      rssBytes: process.memoryUsage().rss,
    };
  }
}
