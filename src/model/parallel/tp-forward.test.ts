/**
 * Tensor parallelism against one rank: for every fixture `fixtureDirs()` finds and the bundled
 * fortune-llama, each legal size up to 4 (threads: shared-memory all-reduce; tcp: the ring over loopback
 * with the other ranks in this process; and at TP = 2, processes: rank 1 a `dhw tp-rank` child) must give the logits of TP = 1 within 1e-4 (max-abs) through a
 * chunked prefill and greedy decode steps on a scrambled paged cache, and the same greedy tokens.
 * Illegal sizes are refused with the legal ones named.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { defaultModelDir, fixtureDirs, repoRoot } from '../../util/paths.ts';
import { makeBatch } from '../batch-builder.ts';
import { loadModelConfig } from '../checkpoint/config.ts';
import type { ForwardBatch } from '../forward-batch.ts';
import { LlamaModel } from '../forward.ts';
import { argmax } from '../kernels/reference/row-ops.ts';
import { runTcpRank } from './rank-process.ts';
import type { PeerAddress } from './tcp-ring.ts';
import { TensorParallelGroup, type TpTransport } from './tp-group.ts';
import { checkTensorParallelSize, legalTensorParallelSizes } from './tp-plan.ts';

const MAX_ABS = 1e-4;
const BLOCK_SIZE = 4;
const DECODE_STEPS = 6;

const modelDirs = [
  ...fixtureDirs((dir) => existsSync(join(dir, 'golden.json')) && existsSync(join(dir, 'config.json'))),
  { label: 'fortune-llama', dir: defaultModelDir },
];

function promptOf(dir: string): number[] {
  const g = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as {
    cases?: { input_ids: number[] }[];
    samples?: { prompt_ids: number[] }[];
  };
  return g.cases?.[0]?.input_ids ?? g.samples![0]!.prompt_ids;
}

type Forward = (batch: ForwardBatch) => Promise<Float32Array>;

/** Prefill in two chunks (every row's logits), then greedy decode: the logits of each step and the tokens. */
async function script(forward: Forward, prompt: number[], vocab: number) {
  const blocks = Math.ceil((prompt.length + DECODE_STEPS) / BLOCK_SIZE);
  const blockTable = Int32Array.from({ length: blocks }, (_, i) => (i * 7 + 3) % (blocks + 5)); // scrambled
  const split = Math.max(1, Math.ceil((2 * prompt.length) / 3));
  const steps: Float32Array[] = [];
  const chunk = (tokens: number[], startPos: number, rows: 'all' | 'last') =>
    makeBatch([{ tokens, startPos, blockTable }], BLOCK_SIZE, rows);
  steps.push(await forward(chunk(prompt.slice(0, split), 0, 'all')));
  if (split < prompt.length) steps.push(await forward(chunk(prompt.slice(split), split, 'all')));
  const tokens: number[] = [];
  let last = steps.at(-1)!.subarray(steps.at(-1)!.length - vocab);
  for (let i = 0; i < DECODE_STEPS; i++) {
    const next = argmax(last);
    tokens.push(next);
    const out = await forward(chunk([next], prompt.length + i, 'last'));
    steps.push(out);
    last = out;
  }
  return { steps, tokens };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length, 'logits size');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

type Mode = TpTransport | 'processes';

/** Ranks 1..N−1 as `dhw tp-rank` children on loopback; resolves when each has exited. */
function rankProcesses(dir: string, peers: PeerAddress[]): Promise<void>[] {
  const spec = peers.map((p) => `${p.host}:${p.port}`).join(',');
  return peers.slice(1).map((_, i) => {
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'bin', 'dhw.mjs'),
        'tp-rank',
        '--model',
        dir,
        '--tp-rank',
        String(i + 1),
        '--tp-peers',
        spec,
        '--threads',
        '1',
        '--log-level',
        'warn',
      ],
      { stdio: 'inherit' },
    );
    return new Promise<void>((resolve, reject) =>
      child.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`tp-rank ${i + 1} exited ${code}`)),
      ),
    );
  });
}

/** A group whose ranks 1..N−1 are worker threads, ring members in this process, or child processes. */
async function startGroup(dir: string, size: number, mode: Mode) {
  const kernelOptions = { threads: 1 };
  const transport: TpTransport = mode === 'threads' ? 'threads' : 'tcp';
  if (transport === 'threads')
    return { group: await TensorParallelGroup.start({ dir, size, transport, kernelOptions }), ranks: [] };
  const peers: PeerAddress[] = [];
  for (let r = 0; r < size; r++) peers.push({ host: '127.0.0.1', port: await freePort() });
  const ranks: Promise<unknown>[] =
    mode === 'processes'
      ? rankProcesses(dir, peers)
      : Array.from({ length: size - 1 }, (_, i) => runTcpRank({ dir, rank: i + 1, peers, kernelOptions }));
  const group = await TensorParallelGroup.start({ dir, size, transport, peers, kernelOptions });
  return { group, ranks };
}

for (const { label, dir } of modelDirs) {
  const config = loadModelConfig(dir);
  const sizes = legalTensorParallelSizes(config, 4).filter((n) => n > 1);
  describe(`tensor parallel ${label} (${config.numHeads} heads, ${config.numKvHeads} KV heads)`, () => {
    const prompt = promptOf(dir);
    let reference: Awaited<ReturnType<typeof script>>;
    before(async () => {
      const model = await LlamaModel.load(dir, { threads: 1 });
      const kv = model.allocateKvCache(64, BLOCK_SIZE);
      reference = await script(async (b) => model.forward(b, kv), prompt, config.vocabSize);
      await model.close();
    });

    it('has a legal size above 1 to test', () => assert.ok(sizes.length > 0, `legal sizes: ${sizes}`));

    for (const size of sizes) {
      const modes: Mode[] = size === 2 ? ['threads', 'tcp', 'processes'] : ['threads', 'tcp'];
      for (const transport of modes) {
        it(`TP=${size} over ${transport}: logits within ${MAX_ABS} of TP=1, same greedy tokens`, async (t) => {
          const { group, ranks } = await startGroup(dir, size, transport);
          try {
            const kv = group.allocateKvCache(64, BLOCK_SIZE);
            const got = await script((b) => group.forward(b, kv), prompt, config.vocabSize);
            assert.deepEqual(got.tokens, reference.tokens);
            const worst = Math.max(...got.steps.map((s, i) => maxAbsDiff(s, reference.steps[i]!)));
            t.diagnostic(`max-abs ${worst.toExponential(2)}; ${JSON.stringify(group.commStats())}`);
            assert.ok(worst <= MAX_ABS, `max-abs ${worst}`);
            const stats = group.commStats();
            assert.equal(
              stats.calls,
              2 * config.numLayers * got.steps.length,
              'two all-reduces per layer per step',
            );
          } finally {
            await group.close();
            await Promise.all(ranks);
          }
        });
      }
    }
  });
}

describe('tensor-parallel sizes', () => {
  it('refuses a size that splits a GQA group or the heads, naming the legal sizes', () => {
    const base = loadModelConfig(defaultModelDir);
    const smol = { ...base, numHeads: 9, numKvHeads: 3 }; // SmolLM2-135M's head counts
    assert.throws(
      () => checkTensorParallelSize(smol, 2),
      /9 attention heads do not split over 2 ranks.*Legal sizes: 1, 3, 9/,
    );
    const qwenLike = { ...base, numHeads: 6, numKvHeads: 4 };
    assert.throws(() => checkTensorParallelSize(qwenLike, 3), /4 KV heads neither split over 3 ranks/);
    assert.doesNotThrow(() => checkTensorParallelSize(smol, 3)); // one KV head per rank
    assert.doesNotThrow(() => checkTensorParallelSize({ ...base, numHeads: 8, numKvHeads: 2 }, 4)); // replicated
  });

  it('a bad batch is refused before any rank sees it; the group keeps working', async () => {
    const group = await TensorParallelGroup.start({
      dir: defaultModelDir,
      size: 2,
      transport: 'threads',
      kernelOptions: { threads: 1 },
    });
    try {
      const kv = group.allocateKvCache(4, BLOCK_SIZE);
      const blockTable = Int32Array.of(0);
      const bad = makeBatch([{ tokens: [1, 1_000_000], startPos: 0, blockTable }], BLOCK_SIZE, 'last');
      await assert.rejects(group.forward(bad, kv), /token id 1000000 at row 1 is outside the vocabulary/);
      const good = await group.forward(
        makeBatch([{ tokens: [1, 2], startPos: 0, blockTable }], BLOCK_SIZE),
        kv,
      );
      assert.equal(good.length, group.config.vocabSize);
    } finally {
      await group.close();
    }
  });

  it('a group of an illegal size does not start', async () => {
    await assert.rejects(
      TensorParallelGroup.start({ dir: defaultModelDir, size: 3, transport: 'threads' }),
      /--tensor-parallel-size 3 does not fit this model: 8 attention heads/,
    );
  });
});
