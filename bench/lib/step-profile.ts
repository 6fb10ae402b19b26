/**
 * Where one single-stream decode step goes (issue 16 item 2): every kernel call of `LlamaModel.forward`
 * timed in place, by phase, with the model's own code path unchanged. The backend's wasm exports (and the
 * attention driver's) are swapped for timing wrappers, and `matmuls` / `attention` for wrappers that name
 * the product (qkv, o, gate+up, down, lm_head) so its tile and activation-quantization time are attributed
 * to it; `forward`'s remainder (embedding copy, logits copy, JS between calls) is total minus the parts.
 *
 * Like `perf` with user-space probes on every driver entry point: the probes cost ~0.1 µs each (a few
 * hundred per step), so a step profiled reads a few percent slower than one unprofiled.
 */
import { performance } from 'node:perf_hooks';
import { argmax, type LlamaModel, SequenceSession } from '../../src/model/index.ts';
import type { Matrix, Product } from '../../src/model/kernels/index.ts';
import type { KernelExports } from '../../src/model/kernels/kernel-abi.ts';

/** Total ms and calls per probe label over the profiled steps. */
type Probes = Map<string, { ms: number; calls: number }>;

export interface StepPhase {
  label: string;
  /** µs per decode step */
  us: number;
  /** calls per decode step */
  calls: number;
  /** weight bytes streamed per step (matmul tiles only) */
  bytes?: number;
}

export interface StepProfile {
  /** context length (tokens in the cache) at the first profiled step */
  context: number;
  steps: number;
  /** wall µs per step with the probes on: forward, batch building and argmax included */
  stepUs: number;
  /** wall µs per step without probes */
  bareStepUs: number;
  phases: StepPhase[];
}

/** The private fields the probes replace (runtime access: the bench measures, it does not change code paths). */
interface Probed {
  wasm: KernelExports | null;
  wasmAttention: { wasm: KernelExports } | null;
  matmuls: (x: Float32Array, rows: number, ...products: Product[]) => void;
  attention: (...args: unknown[]) => void;
}

/** Matrix → product name of its matmul call (the first matrix of a `matmuls` call names it). */
function productNames(model: LlamaModel): Map<Matrix, string> {
  const names = new Map<Matrix, string>();
  for (const l of model.weights.layers) {
    names.set(l.wq, 'qkv');
    names.set(l.wo, 'o');
    names.set(l.wGate, 'gate+up');
    names.set(l.wDown, 'down');
  }
  names.set(model.weights.lmHead, 'lm_head');
  return names;
}

function packedBytes(w: Matrix): number {
  return w.q8x4?.byteLength ?? w.q8?.q.byteLength ?? (w.f32?.byteLength || 0);
}

/**
 * Installs the probes on `model`'s backend; returns the probe table and whether probing is on (it is off
 * while the prompt runs). Only for a throwaway model: the probes stay installed.
 */
function instrument(model: LlamaModel): {
  probes: Probes;
  on: { value: boolean };
  bytes: Map<string, number>;
} {
  const probes: Probes = new Map();
  const on = { value: false };
  const record = (label: string, ms: number): void => {
    if (!on.value) return;
    const p = probes.get(label) ?? { ms: 0, calls: 0 };
    p.ms += ms;
    p.calls += 1;
    probes.set(label, p);
  };
  const backend = model.kernels as unknown as Probed;
  if (!backend.wasm) throw new Error('the step profile needs the wasm kernels (kernels: "wasm")');
  let product = 'other';
  const wrapped = {} as Record<string, unknown>;
  for (const [name, fn] of Object.entries(backend.wasm) as [string, (...a: number[]) => number][]) {
    wrapped[name] = (...args: number[]): number => {
      const t0 = performance.now();
      const r = fn(...args);
      const kernel =
        name === 'matmul_q8_int' || name === 'matmul_q8' || name === 'matmul_f32' ? 'tile' : name;
      const label = kernel === 'tile' || name === 'quantize_q8_act' ? `${product}: ${kernel}` : name;
      record(label, performance.now() - t0);
      return r;
    };
  }
  backend.wasm = wrapped as unknown as KernelExports;
  if (backend.wasmAttention) backend.wasmAttention.wasm = backend.wasm;

  const names = productNames(model);
  const bytes = new Map<string, number>();
  for (const [w, name] of names) bytes.set(name, (bytes.get(name) ?? 0) + packedBytes(w));
  for (const l of model.weights.layers) {
    bytes.set('qkv', bytes.get('qkv')! + packedBytes(l.wk) + packedBytes(l.wv));
    bytes.set('gate+up', bytes.get('gate+up')! + packedBytes(l.wUp));
  }
  const matmuls = backend.matmuls.bind(model.kernels);
  backend.matmuls = (x, rows, ...products) => {
    product = names.get(products[0]![1]) ?? 'other';
    const t0 = performance.now();
    matmuls(x, rows, ...products);
    record(`${product}: whole call`, performance.now() - t0);
    product = 'other';
  };
  const attention = backend.attention.bind(model.kernels);
  backend.attention = (...args) => {
    const t0 = performance.now();
    attention(...args);
    record('attention: whole call', performance.now() - t0);
  };
  return { probes, on, bytes };
}

/**
 * Profiles one sequence's decode steps after a prompt of `context` tokens (fed in chunks of 64), on a model
 * loaded only for this (the probes stay on it): `rounds` rounds of `steps` steps, first without probes (the
 * honest step time), then with them; each figure is its best round (the least disturbed on a shared box).
 */
export function profileDecodeSteps(
  model: LlamaModel,
  context: number,
  steps: number,
  rounds = 5,
): StepProfile {
  // Every round restarts at the same context (its tokens overwrite the previous round's cache slots).
  const session = new SequenceSession(model, { maxTokens: context + steps + 8 });
  const prompt = Array.from({ length: context }, (_, i) => (i * 7919 + 13) % model.config.vocabSize);
  let logits: Float32Array = new Float32Array(0);
  for (let i = 0; i < context; i += 64) logits = session.feed(prompt.slice(i, i + 64));
  let token = argmax(logits);
  for (let i = 0; i < 3; i++) token = argmax(session.feed([token])); // warm-up
  const start = session.length;
  let bareMs = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    session.length = start;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) token = argmax(session.feed([token]));
    bareMs = Math.min(bareMs, performance.now() - t0);
  }
  const { probes, on, bytes } = instrument(model);
  const forward = model.forward.bind(model);
  let forwardMs = 0;
  model.forward = (...args) => {
    const t0 = performance.now();
    const out = forward(...args);
    forwardMs += performance.now() - t0;
    return out;
  };
  let best: StepProfile | null = null;
  for (let r = 0; r < rounds; r++) {
    probes.clear();
    session.length = start;
    forwardMs = 0;
    let argmaxMs = 0;
    on.value = true;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) {
      const out = session.feed([token]);
      const ta = performance.now();
      token = argmax(out);
      argmaxMs += performance.now() - ta;
    }
    const totalMs = performance.now() - t0;
    on.value = false;
    const p = summarize(probes, bytes, { context, steps, totalMs, forwardMs, argmaxMs });
    best = best === null ? p : bestOf(best, p);
  }
  model.forward = forward;
  return { ...best!, bareStepUs: (bareMs * 1000) / steps };
}

/** Per phase, the smaller of two rounds' figures (and the smaller step time). */
function bestOf(a: StepProfile, b: StepProfile): StepProfile {
  const phases = a.phases.map((p, i) => (b.phases[i]!.us < p.us ? b.phases[i]! : p));
  return { ...a, stepUs: Math.min(a.stepUs, b.stepUs), phases };
}

function summarize(
  probes: Probes,
  bytes: Map<string, number>,
  t: { context: number; steps: number; totalMs: number; forwardMs: number; argmaxMs: number },
): StepProfile {
  const us = (ms: number): number => (ms * 1000) / t.steps;
  const phases: StepPhase[] = [];
  let kernelsMs = 0;
  const take = (label: string): { ms: number; calls: number } => probes.get(label) ?? { ms: 0, calls: 0 };
  for (const name of ['qkv', 'o', 'gate+up', 'down', 'lm_head']) {
    const whole = take(`${name}: whole call`);
    const tile = take(`${name}: tile`);
    const quant = take(`${name}: quantize_q8_act`);
    phases.push({
      label: `${name} tile`,
      us: us(tile.ms),
      calls: tile.calls / t.steps,
      bytes: bytes.get(name),
    });
    phases.push({ label: `${name} quantize`, us: us(quant.ms), calls: quant.calls / t.steps });
    phases.push({
      label: `${name} JS (copies, bias, dispatch)`,
      us: us(whole.ms - tile.ms - quant.ms),
      calls: 0,
    });
    kernelsMs += whole.ms;
  }
  const attn = take('attention: whole call');
  const scores = take('attn_scores');
  const values = take('attn_values');
  phases.push({ label: 'attention scores', us: us(scores.ms), calls: scores.calls / t.steps });
  const softmax = take('softmax_f32');
  phases.push({
    label: 'attention driver (JS)',
    us: us(attn.ms - scores.ms - values.ms - softmax.ms),
    calls: 0,
  });
  phases.push({ label: 'attention V sum', us: us(values.ms), calls: values.calls / t.steps });
  kernelsMs += attn.ms - softmax.ms; // softmax_f32 is listed with the row ops below
  const rowOps = [
    'softmax_f32',
    'rmsnorm_f32',
    'rope_f32',
    'kv_write',
    'swiglu_f32',
    'swiglu_f32_fast',
    'add_f32',
  ];
  for (const name of rowOps) {
    const p = take(name);
    if (p.calls === 0) continue;
    phases.push({ label: name, us: us(p.ms), calls: p.calls / t.steps });
    kernelsMs += p.ms;
  }
  phases.push({
    label: 'forward JS (embedding, logits copy, calls)',
    us: us(t.forwardMs - kernelsMs),
    calls: 0,
  });
  phases.push({ label: 'argmax (JS)', us: us(t.argmaxMs), calls: 1 });
  phases.push({ label: 'batch building, session', us: us(t.totalMs - t.forwardMs - t.argmaxMs), calls: 0 });
  return { context: t.context, steps: t.steps, stepUs: us(t.totalMs), bareStepUs: 0, phases };
}

/** The profile as a Markdown table: phase, µs per step, share, calls, and GB/s for the matmul tiles. */
export function formatStepProfile(name: string, p: StepProfile): string {
  const lines = [
    `${name}, context ${p.context}, best of rounds of ${p.steps} steps: ${p.bareStepUs.toFixed(0)} µs per step without probes (${(1e6 / p.bareStepUs).toFixed(1)} tok/s), ${p.stepUs.toFixed(0)} with; sum of best phases ${p.phases.reduce((s, ph) => s + ph.us, 0).toFixed(0)}`,
    '| phase | µs / step | share | calls / step | weight MB | GB/s |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const ph of p.phases) {
    const mb = ph.bytes ? (ph.bytes / 1e6).toFixed(1) : '';
    const gbs = ph.bytes && ph.us > 0 ? (ph.bytes / 1e3 / ph.us).toFixed(1) : '';
    const share = ((100 * ph.us) / p.stepUs).toFixed(1); // of the probed step
    lines.push(
      `| ${ph.label} | ${ph.us.toFixed(0)} | ${share}% | ${ph.calls ? ph.calls.toFixed(0) : ''} | ${mb} | ${gbs} |`,
    );
  }
  return lines.join('\n');
}
