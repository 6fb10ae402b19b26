/**
 * Lab 4.6: tensor parallelism. Split fortune-llama's heads and MLP columns over two ranks, first as threads
 * sharing memory, then as two processes joined by a TCP ring, and check that the logits do not change.
 * Predict the bytes every token puts on the wire and the time per layer, then measure both. Finally kill a
 * rank and watch the group fail fast instead of hanging. Like splitting one database table's columns over
 * two shards that must agree on every row: the cost is a round of messages per operation.
 *
 * @expect /rank 0: heads 0-3, KV heads 0-1, MLP columns 0-351/
 * @expect /SmolLM2-135M \(9 heads, 3 KV heads\): legal sizes 1, 3, 9/
 * @expect /predicted: 12288 B all-reduced per token/
 * @expect /TP=2 threads vs TP=1: max-abs logit difference [\d.e-]+ \(limit 1e-4\), greedy tokens identical: true/
 * @expect /TP=2 processes vs TP=1: max-abs logit difference [\d.e-]+ \(limit 1e-4\), greedy tokens identical: true/
 * @expect /measured: 12288 B all-reduced per token \(the prediction, exactly\)/
 * @expect /comm per layer, decode: predicted -?[\d.]+ ms, measured [\d.]+ ms/
 * @expect /after kill -9 of rank 1: TpGroupError/
 * @expect Lab complete.
 */
import { spawnLocalTpRanks } from '../../../src/engine/index.ts';
import {
  type ForwardBatch,
  LlamaModel,
  legalTensorParallelSizes,
  loadModelConfig,
  makeBatch,
  rankShard,
  shardConfig,
  TensorParallelGroup,
} from '../../../src/model/index.ts';
import { matrixBytes } from '../../../src/model/kernels/index.ts';
import { defaultModelDir } from '../../../src/util/paths.ts';
import { banner, formatBytes, formatMs, isSmoke, note, printTable, runLab, step } from '../../lib/lab-kit.ts';
import { allReduceBytesPerToken, ringAllReduceMs } from './reference.ts';
import { localRing, timeAllReduce } from './tp-rig.ts';

const BLOCK_SIZE = 16;

type Forward = (b: ForwardBatch) => Promise<Float32Array>;

/** Prefill `prompt` (every row's logits), then `steps` greedy decode steps: all logits and the tokens. */
async function greedyRun(forward: Forward, prompt: number[], steps: number, vocab: number) {
  const blockTable = Int32Array.from(
    { length: Math.ceil((prompt.length + steps) / BLOCK_SIZE) },
    (_, i) => i,
  );
  const logits: Float32Array[] = [
    await forward(makeBatch([{ tokens: prompt, startPos: 0, blockTable }], BLOCK_SIZE, 'all')),
  ];
  const tokens: number[] = [];
  for (let i = 0; i < steps; i++) {
    const last = logits.at(-1)!;
    const row = last.subarray(last.length - vocab);
    let next = 0;
    for (let j = 1; j < vocab; j++) if (row[j]! > row[next]!) next = j;
    tokens.push(next);
    logits.push(
      await forward(
        makeBatch([{ tokens: [next], startPos: prompt.length + i, blockTable }], BLOCK_SIZE, 'last'),
      ),
    );
  }
  return { logits, tokens };
}

function maxAbs(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((x, i) => {
    for (let j = 0; j < x.length; j++) m = Math.max(m, Math.abs(x[j]! - b[i]![j]!));
  });
  return m;
}

async function main(): Promise<void> {
  banner('4.6', 'Tensor parallelism');
  const smoke = isSmoke();
  const dir = defaultModelDir;
  const c = loadModelConfig(dir);
  const steps = smoke ? 8 : 32;
  const prompt = Array.from({ length: smoke ? 24 : 96 }, (_, i) => (i * 131 + 7) % c.vocabSize);

  step('The split: which heads and MLP columns each rank owns (Megatron-LM column/row parallel)');
  note(
    `fortune-llama: ${c.numLayers} layers, hidden ${c.hiddenSize}, ${c.numHeads} heads, ${c.numKvHeads} KV heads, MLP ${c.intermediateSize}`,
  );
  for (const size of [2, 4]) {
    note(`TP=${size}:`);
    for (let r = 0; r < size; r++) {
      const s = rankShard(c, r, size);
      note(
        `  rank ${r}: heads ${s.heads.start}-${s.heads.end - 1}, KV heads ${s.kvHeads.start}-${s.kvHeads.end - 1}, MLP columns ${s.intermediate.start}-${s.intermediate.end - 1}`,
      );
    }
  }
  const shard = shardConfig(c, rankShard(c, 0, 2));
  note(
    `weights per rank at TP=2: ${formatBytes(matrixBytes(shard, 'f32'))} of matrices (TP=1: ${formatBytes(matrixBytes(c, 'f32'))}; the LM head is replicated)`,
  );
  note(
    `SmolLM2-135M (9 heads, 3 KV heads): legal sizes ${legalTensorParallelSizes({ ...c, numHeads: 9, numKvHeads: 3 }).join(', ')}`,
  );

  step('Predict before measuring: bytes all-reduced per token');
  const predictedBytes = allReduceBytesPerToken({
    numLayers: c.numLayers,
    hiddenSize: c.hiddenSize,
    bytesPerValue: 4,
  });
  note(
    `2 all-reduces per layer (after o_proj, after down_proj) × ${c.numLayers} layers × ${c.hiddenSize} floats × 4 B`,
  );
  note(`predicted: ${predictedBytes} B all-reduced per token`);

  step('TP=1 (the reference), then TP=2 as threads sharing memory');
  const one = await LlamaModel.load(dir, { threads: 1 });
  const kv1 = one.allocateKvCache(16, BLOCK_SIZE);
  const reference = await greedyRun(async (b) => one.forward(b, kv1), prompt, steps, c.vocabSize);
  await one.close();
  note(`TP=1 greedy: ${reference.tokens.join(' ')}`);
  const threads = await TensorParallelGroup.start({
    dir,
    size: 2,
    transport: 'threads',
    kernelOptions: { threads: 1 },
  });
  const kvT = threads.allocateKvCache(16, BLOCK_SIZE);
  const viaThreads = await greedyRun((b) => threads.forward(b, kvT), prompt, steps, c.vocabSize);
  await threads.close();
  note(
    `TP=2 threads vs TP=1: max-abs logit difference ${maxAbs(viaThreads.logits, reference.logits).toExponential(2)} (limit 1e-4), greedy tokens identical: ${JSON.stringify(viaThreads.tokens) === JSON.stringify(reference.tokens)}`,
  );

  step('Predict the link: fit latency and bandwidth from a 1-float and a 256 Ki-float ring all-reduce');
  const pair = await localRing(2);
  const small = await timeAllReduce(pair, 1, smoke ? 5 : 21);
  const large = await timeAllReduce(pair, 1 << 18, smoke ? 3 : 9);
  pair.close();
  const link = {
    latencyUs: (small / 2) * 1000,
    gigabitsPerSecond: (8 * ((1 << 18) * 4 - 4)) / ((large - small) / 1000) / 1e9,
  };
  note(`1 float: ${formatMs(small)} (≈ 2 steps × latency); 1 MiB: ${formatMs(large)}`);
  note(`fitted link: ${link.latencyUs.toFixed(0)} µs one way, ${link.gigabitsPerSecond.toFixed(2)} Gbit/s`);
  const decodePredicted = 2 * ringAllReduceMs(c.hiddenSize * 4, 2, link);
  const prefillPredicted = 2 * ringAllReduceMs(prompt.length * c.hiddenSize * 4, 2, link);
  note(
    `predicted comm per layer: prefill of ${prompt.length} tokens ${formatMs(prefillPredicted)}, decode ${formatMs(decodePredicted)}`,
  );

  step('TP=2 as two processes: rank 1 is `dhw tp-rank`, the ranks sum over a TCP ring');
  const ranks = await spawnLocalTpRanks({ modelDir: dir, size: 2, threads: 1 });
  note(
    `$ dhw tp-rank --model ${dir} --tp-rank 1 --tp-peers ${ranks.peers.map((p) => `${p.host}:${p.port}`).join(',')}   (pid ${ranks.pids[0]})`,
  );
  const tcp = await TensorParallelGroup.start({
    dir,
    size: 2,
    transport: 'tcp',
    peers: ranks.peers,
    kernelOptions: { threads: 1 },
    timeoutMs: 5000,
  });
  try {
    const kvP = tcp.allocateKvCache(16, BLOCK_SIZE);
    const before = tcp.commStats();
    const t0 = performance.now();
    const viaTcp = await greedyRun((b) => tcp.forward(b, kvP), prompt, steps, c.vocabSize);
    const ms = performance.now() - t0;
    const after = tcp.commStats();
    note(
      `TP=2 processes vs TP=1: max-abs logit difference ${maxAbs(viaTcp.logits, reference.logits).toExponential(2)} (limit 1e-4), greedy tokens identical: ${JSON.stringify(viaTcp.tokens) === JSON.stringify(reference.tokens)}`,
    );
    const tokens = prompt.length + steps;
    const perToken = (after.payloadBytes - before.payloadBytes) / tokens;
    note(
      `measured: ${perToken} B all-reduced per token${perToken === predictedBytes ? ' (the prediction, exactly)' : ''}`,
    );
    note(
      `rank 0 sent ${after.sentBytes - before.sentBytes} B in ${after.calls - before.calls} all-reduces; ${tokens} tokens in ${formatMs(ms)}`,
    );
    // Decode steps alone: one more short run, counting only its all-reduce time.
    const d0 = tcp.commStats();
    const blockTable = Int32Array.from({ length: 4 }, (_, i) => i + 8);
    for (let i = 0; i < steps; i++)
      await tcp.forward(makeBatch([{ tokens: [1 + i], startPos: i, blockTable }], BLOCK_SIZE, 'last'), kvP);
    const decodeMeasured = (tcp.commStats().ms - d0.ms) / (steps * c.numLayers);
    printTable(
      ['', 'predicted ms/layer', 'measured ms/layer'],
      [['decode (1 row)', decodePredicted.toFixed(3), decodeMeasured.toFixed(3)]],
    );
    note(
      `comm per layer, decode: predicted ${decodePredicted.toFixed(3)} ms, measured ${decodeMeasured.toFixed(3)} ms`,
    );
    note('measured = time inside allReduce on rank 0, so it includes waiting for rank 1 to finish its share');

    step('Kill rank 1 (kill -9) and take another step: the group fails fast, it does not hang');
    process.kill(ranks.pids[0]!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    const t1 = performance.now();
    try {
      await tcp.forward(makeBatch([{ tokens: [1], startPos: 0, blockTable }], BLOCK_SIZE, 'last'), kvP);
      note('unexpected: the step succeeded');
    } catch (err) {
      note(
        `after kill -9 of rank 1: ${(err as Error).name}: ${(err as Error).message} (in ${formatMs(performance.now() - t1)})`,
      );
    }
  } finally {
    await tcp.close();
    await ranks.stop();
  }
}

runLab(main, 'Run `node scripts/run-tests.mjs src/model/parallel` to check tensor parallelism alone.');
