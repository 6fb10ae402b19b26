/**
 * A kernel worker thread: instantiates the kernel module over the shared arena, says "ready", then loops
 * waiting on the job board's doorbell (GEN) and computing its share of each job.
 *
 * Like a polling NIC driver thread: spin briefly on the doorbell (a decode step rings it every few
 * microseconds), then sleep in the kernel (Atomics.wait) so an idle engine costs no CPU.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { instantiateKernels } from '../wasm/kernel-module.ts';
import { DONE, FAILED, GEN, runShare, STOP } from './job.ts';

interface KernelWorkerData {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  /** This worker's share index (the engine thread is 0). */
  index: number;
  spinIterations: number;
}

const data = workerData as KernelWorkerData;
const kernels = instantiateKernels(data.module, data.memory);
const control = new Int32Array(data.memory.buffer, 0, 64);
// Read the doorbell before saying ready: the first job can only be rung after "ready" arrives.
let seen = Atomics.load(control, GEN);
parentPort?.postMessage('ready');
for (;;) {
  let spins = data.spinIterations;
  while (Atomics.load(control, GEN) === seen && spins-- > 0);
  if (Atomics.load(control, GEN) === seen) Atomics.wait(control, GEN, seen);
  seen = Atomics.load(control, GEN);
  if (Atomics.load(control, STOP) === 1) break;
  try {
    runShare(kernels, control, data.index);
  } catch (err) {
    Atomics.store(control, FAILED, 1);
    parentPort?.postMessage({ error: String(err) });
  }
  Atomics.add(control, DONE, 1);
  Atomics.notify(control, DONE);
}
parentPort?.close();
