/**
 * Lab 1.3: the KV cache, measured. For prompts of growing length: the KV bytes the cache must hold (exact
 * arithmetic) beside what the process's memory really did (allocated and resident), then a look at where one
 * token's keys live in the paged cache, a pre-reserved pool, and the same arithmetic for big models.
 * Like watching a session cache's memory while replaying longer and longer sessions.
 *
 * @expect KV bytes per token: 6,144
 * @expect tokens  blocks
 * @expect Paged and contiguous caches give identical logits
 * @expect Reserved pool
 * @expect Llama-3-70B
 * @expect /Chart: \S*1\.3-kv-memory\.svg and \.png/
 * @expect Lab complete.
 */
import {
  allocateKvCacheTensors,
  kvBytesPerToken,
  LlamaModel,
  makeSingleSequenceBatch,
  SequenceSession,
} from '../../../src/model/index.ts';
import { Tokenizer } from '../../../src/tokens/index.ts';
import { defaultModelDir } from '../../../src/util/paths.ts';
import {
  banner,
  formatBytes,
  formatMs,
  isSmoke,
  note,
  printTable,
  runLab,
  step,
  timed,
} from '../../lib/lab-kit.ts';
import { writeLabChart } from '../../lib/lab-chart.ts';
import { type MemorySnapshot, memoryDelta, memorySnapshot, rerunWithFreshPages } from '../../lib/memory.ts';

const BLOCK_SIZE = 16;
const LENGTHS = isSmoke() ? [16, 64] : [16, 64, 128, 256, 512, 1008];
const POOL_TOKENS = isSmoke() ? 256 : 1024;
const REPEATS = isSmoke() ? 1 : 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const thousands = (n: number) => n.toLocaleString('en-US');

/** A prompt of exactly n real tokens: fortune-style text, repeated. */
function promptOfLength(tokenizer: Tokenizer, n: number): number[] {
  const text = 'The best way to predict the future is to invent it. -- Alan Kay\n';
  const ids = tokenizer.encode(text.repeat(Math.ceil(n / 8) + 1), { addSpecialTokens: false });
  if (ids.length < n) throw new Error(`could not build a ${n}-token prompt`);
  return ids.slice(0, n);
}

async function main(): Promise<void> {
  banner('1.3', 'Watch the KV cache grow');
  const model = await LlamaModel.load(defaultModelDir);
  const tokenizer = await Tokenizer.fromDir(defaultModelDir);
  const c = model.config;

  step('Predict: bytes of cache per token');
  const perToken = kvBytesPerToken(c.numLayers, c.numKvHeads, c.headDim);
  note(
    `2 (K and V) x ${c.numLayers} layers x ${c.numKvHeads} KV heads x ${c.headDim} head dim x 4 bytes (fp32)`,
  );
  note(
    `KV bytes per token: ${thousands(perToken)} (${formatBytes(perToken)}); one block of ${BLOCK_SIZE} tokens: ${formatBytes(perToken * BLOCK_SIZE)}`,
  );

  step(`Measure: prefill prompts of ${LENGTHS.join(', ')} tokens, each into its own cache`);
  // Warm-up pass over every length: the model grows its scratch buffers to the largest batch, and one-time
  // costs (JIT, allocator and heap growth) happen here instead of inside the table. Every cache stays alive,
  // warm-up ones too, so each measured row gets fresh memory and nothing is freed mid-row.
  const kept: SequenceSession[] = [];
  for (const tokens of LENGTHS) {
    const warmup = new SequenceSession(model, { maxTokens: tokens, blockSize: BLOCK_SIZE });
    warmup.feed(promptOfLength(tokenizer, tokens));
    kept.push(warmup);
  }
  const longest = Math.max(...LENGTHS);
  const rows: (string | number)[][] = [];
  const growth: GrowthPoint[] = [];
  for (const tokens of LENGTHS) {
    const prompt = promptOfLength(tokenizer, tokens);
    // Several fresh caches per length; the median shrugs off a background thread freeing memory mid-row.
    const samples: { allocated: MemorySnapshot; written: MemorySnapshot; ms: number }[] = [];
    for (let r = 0; r < REPEATS; r++) {
      const before = await memorySnapshot();
      const session = new SequenceSession(model, { maxTokens: tokens, blockSize: BLOCK_SIZE });
      const allocated = memoryDelta(before, await memorySnapshot());
      const { ms } = await timed(() => session.feed(prompt));
      const written = memoryDelta(before, await memorySnapshot());
      kept.push(session);
      samples.push({ allocated, written, ms });
    }
    growth.push({
      tokens,
      predicted: tokens * perToken,
      allocated: median(samples.map((x) => x.allocated.arrayBuffers)),
      resident: median(samples.map((x) => x.written.native)),
    });
    rows.push([
      tokens,
      Math.ceil(tokens / BLOCK_SIZE),
      formatBytes(tokens * perToken),
      formatBytes(median(samples.map((x) => x.allocated.arrayBuffers))),
      formatBytes(median(samples.map((x) => x.allocated.native))),
      formatBytes(median(samples.map((x) => x.written.native))),
      formatMs(median(samples.map((x) => x.ms))),
    ]);
  }
  printTable(
    [
      'tokens',
      'blocks',
      'KV bytes (tokens x 6 KiB)',
      'allocated (arrayBuffers)',
      'RSS after alloc',
      'RSS after prefill',
      'prefill',
    ],
    rows,
  );
  note(
    `RSS columns: growth of resident memory outside the JS heap (rss - heapTotal) after a full GC; median of ${REPEATS}.`,
  );
  note(
    `malloc: MALLOC_MMAP_THRESHOLD_=${process.env.MALLOC_MMAP_THRESHOLD_ ?? 'default'} (each large buffer gets fresh pages)`,
  );
  note(
    `Scratch activations for a ${longest}-token prefill (kept by the model, reused): ` +
      `${formatBytes(longest * 4 * (3 * c.hiddenSize + 2 * c.numHeads * c.headDim + 2 * c.numKvHeads * c.headDim + 2 * c.intermediateSize))}`,
  );

  step('Look inside: where does one token live? (logical position → block table → slot)');
  const prompt = promptOfLength(tokenizer, 40);
  const contiguous = new SequenceSession(model, { maxTokens: 40 });
  const paged = new SequenceSession(model, { maxTokens: 40, blockTable: Int32Array.from([5, 1, 3]) });
  const logitsA = contiguous.feed(prompt);
  const logitsB = paged.feed(prompt);
  const position = 20;
  const kvDim = c.numKvHeads * c.headDim;
  const lookups = [
    ['contiguous', contiguous],
    ['paged', paged],
  ] as const;
  printTable(
    ['cache', 'block table', 'block of pos 20', 'offset', 'slot', 'layer-0 key[0..3] of pos 20'],
    lookups.map(([name, s]) => {
      const block = s.blockTable[Math.floor(position / BLOCK_SIZE)] as number;
      const slot = block * BLOCK_SIZE + (position % BLOCK_SIZE);
      const key = s.kv.key[0]?.subarray(slot * kvDim, slot * kvDim + 4) ?? new Float32Array();
      return [
        name,
        `[${s.blockTable.join(', ')}]`,
        block,
        position % BLOCK_SIZE,
        slot,
        [...key].map((v) => v.toFixed(4)).join(' '),
      ];
    }),
  );
  const maxDiff = logitsA.reduce((m, v, i) => Math.max(m, Math.abs(v - (logitsB[i] as number))), 0);
  if (maxDiff !== 0) throw new Error(`paged cache changed the logits (max diff ${maxDiff})`);
  note('Paged and contiguous caches give identical logits: the block table is invisible to the math,');
  note('like a page table to a program. Same key vector, different physical slot.');

  step(`Reserve a pool up front, the way engines do (${POOL_TOKENS} tokens), then fill it`);
  const numBlocks = POOL_TOKENS / BLOCK_SIZE;
  const before = await memorySnapshot();
  const pool = allocateKvCacheTensors(model.kvCacheShape(numBlocks, BLOCK_SIZE));
  const afterAlloc = memoryDelta(before, await memorySnapshot());
  const poolRows: (string | number)[][] = [
    ['Reserved pool', 0, formatBytes(afterAlloc.arrayBuffers), formatBytes(afterAlloc.native)],
  ];
  const pooled: GrowthPoint[] = [
    { tokens: 0, predicted: 0, allocated: afterAlloc.arrayBuffers, resident: afterAlloc.native },
  ];
  const chunk = POOL_TOKENS / 4;
  for (let used = chunk; used <= POOL_TOKENS; used += chunk) {
    // One sequence per chunk, each in its own blocks, as a block manager would hand them out.
    const firstBlock = (used - chunk) / BLOCK_SIZE;
    const blockTable = Int32Array.from({ length: chunk / BLOCK_SIZE }, (_, i) => firstBlock + i);
    model.forward(makeSingleSequenceBatch(promptOfLength(tokenizer, chunk), 0, blockTable, BLOCK_SIZE), pool);
    const delta = memoryDelta(before, await memorySnapshot());
    pooled.push({
      tokens: used,
      predicted: used * perToken,
      allocated: delta.arrayBuffers,
      resident: delta.native,
    });
    poolRows.push([
      `after ${used} tokens written`,
      used,
      formatBytes(delta.arrayBuffers),
      formatBytes(delta.native),
    ]);
  }
  printTable(['state', 'tokens in pool', 'allocated (arrayBuffers)', 'RSS growth'], poolRows);
  note(
    `Pool size: ${numBlocks} blocks x ${formatBytes(perToken * BLOCK_SIZE)} = ${formatBytes(numBlocks * BLOCK_SIZE * perToken)}.`,
  );
  note(
    'Allocated jumps at once; resident memory follows only as blocks are first written (lazy zero pages).',
  );

  step('Scale it up: the same arithmetic for real models');
  const models: [string, number][] = [
    ['fortune-llama (fp32)', perToken],
    ['Llama-2-7B (fp16)', kvBytesPerToken(32, 32, 128, 2)],
    ['Llama-3-8B (bf16)', kvBytesPerToken(32, 8, 128, 2)],
    ['Llama-3-70B (bf16)', kvBytesPerToken(80, 8, 128, 2)],
  ];
  const counts = [1_000, 4_000, 32_000, 128_000];
  printTable(
    ['model', 'per token', ...counts.map((n) => `${thousands(n)} tokens`)],
    models.map(([name, bytes]) => [name, formatBytes(bytes), ...counts.map((n) => formatBytes(n * bytes))]),
  );
  note(`Kept ${kept.length} caches alive for the measurement; they are freed when the process exits.`);
  await writeGrowthChart(growth, pooled);
}

/** One row of a memory table, in bytes: what the arithmetic predicts, what was allocated, what is resident. */
interface GrowthPoint {
  tokens: number;
  predicted: number;
  allocated: number;
  resident: number;
}

/** Steps 2 and 4 as curves (written after every measurement, so drawing them allocates nothing measured). */
async function writeGrowthChart(growth: GrowthPoint[], pooled: GrowthPoint[]): Promise<void> {
  const curves = (points: GrowthPoint[]) => {
    const kib = (pick: (p: GrowthPoint) => number) =>
      points.map((p) => [p.tokens, pick(p) / 1024] as [number, number]);
    return [
      { name: 'predicted: tokens × KV bytes per token', points: kib((p) => p.predicted), dashed: true },
      { name: 'allocated (arrayBuffers)', points: kib((p) => p.allocated) },
      { name: 'resident (RSS growth)', points: kib((p) => p.resident) },
    ];
  };
  await writeLabChart('1.3', 'kv-memory', {
    title: 'KV cache memory vs tokens (fortune-llama, fp32)',
    subtitle: `median of ${REPEATS}${isSmoke() ? ' (smoke run)' : ''}; RSS growth is outside the JS heap, after a full GC`,
    panels: [
      {
        title: 'A cache per prompt, sized to it',
        xLabel: 'prompt tokens',
        yLabel: 'KiB',
        yFromZero: true,
        series: curves(growth),
      },
      {
        title: `A pool reserved up front (${POOL_TOKENS} tokens), then filled`,
        xLabel: 'tokens written into the pool',
        yLabel: 'KiB',
        yFromZero: true,
        series: curves(pooled),
      },
    ],
  });
}

if (!rerunWithFreshPages()) runLab(main);
