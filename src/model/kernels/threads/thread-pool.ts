/**
 * KernelThreadPool: N-1 worker threads plus the calling (engine) thread, computing one matmul job together
 * over the shared arena. `run(ops)` is synchronous: it rings the doorbell, computes the engine thread's own
 * share (thread 0) instead of idling, then waits for the workers' DONE count — a barrier per job.
 *
 * Like a connection pool sized to the CPU count: threads are started once at model load, stay parked on
 * a futex (Atomics.wait) while idle, and are unref'd so a forgotten pool never keeps the process alive;
 * `close()` still stops and joins them for a clean shutdown.
 */
import { Worker } from 'node:worker_threads';
import { getLogger } from '../../../util/logger.ts';
import type { SharedArena } from '../arena.ts';
import type { KernelExports, MatmulOp } from '../kernel-abi.ts';
import { DONE, FAILED, GEN, MAX_OPS, NUM_OPS, NUM_THREADS, runShare, STOP, writeOp } from './job.ts';

const log = getLogger('kernels');

/** Spins on the doorbell before sleeping: about 50 µs, longer than the gap between two matmuls of a step. */
const SPIN_ITERATIONS = 20_000;
/** A worker that has not finished its share after this long is considered lost. */
const JOB_TIMEOUT_MS = 30_000;

function workerEntry(): URL {
  // Under tsx this file is .ts and the worker needs the bootstrap; a compiled build has kernel-worker.js.
  return import.meta.url.endsWith('.ts')
    ? new URL('./kernel-worker-bootstrap.mjs', import.meta.url)
    : new URL('./kernel-worker.js', import.meta.url);
}

export class KernelThreadPool {
  private closed = false;

  private constructor(
    readonly threads: number,
    private readonly workers: Worker[],
    private readonly control: Int32Array,
    private readonly kernels: KernelExports,
  ) {}

  /** Starts threads-1 workers over the arena and waits until each has its kernels instantiated. */
  static async start(
    threads: number,
    arena: SharedArena,
    module: WebAssembly.Module,
    kernels: KernelExports,
  ): Promise<KernelThreadPool> {
    const control = arena.control();
    const workers: Worker[] = [];
    try {
      for (let index = 1; index < threads; index++) {
        const worker = new Worker(workerEntry(), {
          workerData: { memory: arena.memory, module, index, spinIterations: SPIN_ITERATIONS },
          // Not the parent's flags: they may hold `-e SCRIPT` (V8 flags are process-wide anyway), and the
          // bootstrap registers tsx itself.
          execArgv: [],
        });
        workers.push(worker);
        await new Promise<void>((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', reject);
          worker.once('exit', (code) => reject(new Error(`kernel worker ${index} exited with code ${code}`)));
        });
        worker.removeAllListeners();
        worker.on('message', (m: { error?: string }) => {
          if (m.error) log.error('kernel worker failed', { worker: index, error: m.error });
        });
        worker.unref();
      }
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
    return new KernelThreadPool(threads, workers, control, kernels);
  }

  /** Computes every op, its output columns split over all threads. Returns when all are done. */
  run(ops: readonly MatmulOp[]): void {
    if (this.closed) throw new Error('kernel thread pool is closed');
    if (ops.length > MAX_OPS) throw new RangeError(`at most ${MAX_OPS} ops per job, got ${ops.length}`);
    const c = this.control;
    for (let i = 0; i < ops.length; i++) writeOp(c, i, ops[i]!);
    c[NUM_OPS] = ops.length;
    c[NUM_THREADS] = this.threads;
    Atomics.store(c, DONE, 0);
    Atomics.add(c, GEN, 1);
    Atomics.notify(c, GEN);
    runShare(this.kernels, c, 0);
    this.waitForWorkers();
  }

  private waitForWorkers(): void {
    const c = this.control;
    const want = this.workers.length;
    let spins = SPIN_ITERATIONS;
    while (Atomics.load(c, DONE) < want && spins-- > 0);
    const deadline = Date.now() + JOB_TIMEOUT_MS;
    for (let done = Atomics.load(c, DONE); done < want; done = Atomics.load(c, DONE)) {
      if (Date.now() > deadline)
        throw new Error(`kernel workers finished ${done} of ${want} shares in ${JOB_TIMEOUT_MS} ms`);
      Atomics.wait(c, DONE, done, 100);
    }
    if (Atomics.load(c, FAILED) === 1) {
      Atomics.store(c, FAILED, 0);
      throw new Error('a kernel worker failed (see the error log); the job output is incomplete');
    }
  }

  /** Stops and joins the workers. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.control, STOP, 1);
    Atomics.add(this.control, GEN, 1);
    Atomics.notify(this.control, GEN);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
