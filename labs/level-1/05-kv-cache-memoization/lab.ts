/**
 * Lab 1.5: the KV cache as a memoization table. Two chat requests share a system prompt; the engine's
 * prefix cache (content-addressed by chained block hashes) lets the second skip the shared part of its
 * prefill. Measured: TTFT cold vs warm (medians), cached tokens as the engine reports them; drawn: the two
 * block tables pointing at the same physical blocks, refCnt, hashes; then eviction in a tiny pool.
 * Like a memoized function whose table is keyed by "everything before this block".
 *
 * @expect Shared full blocks: 4 (64 tokens)
 * @expect /Warm requests: \d+ of \d+ prompt tokens cached/
 * @expect /TTFT median: cold [\d.]+ ms, warm [\d.]+ ms/
 * @expect * = one physical block in both tables
 * @expect /event \d+: removed/
 * @expect /P after eviction: 32 of 78 prompt tokens cached \(was 64\)/
 * @expect Lab complete.
 */
import { benchRequest } from '../../../bench/lib/prompts.ts';
import { requestMetrics, timeRequest } from '../../../bench/lib/request-timing.ts';
import { LlmEngine } from '../../../src/engine/index.ts';
import { asRequestId } from '../../../src/protocols/ids.ts';
import { computeBlockHashes, Tokenizer } from '../../../src/tokens/index.ts';
import { defaultModelDir } from '../../../src/util/paths.ts';
import { median } from '../../../src/util/stats.ts';
import {
  argValue,
  banner,
  formatMs,
  isSmoke,
  note,
  printTable,
  runLab,
  step,
  visible,
} from '../../lib/lab-kit.ts';
import {
  type NamedBlockTable,
  refCounts,
  renderBlockTables,
  renderPoolMap,
  shortHash,
} from './block-table-view.ts';
import { demonstrateEviction } from './eviction.ts';

const BLOCK_SIZE = 16;
const NUM_KV_BLOCKS = 64;
const REPEATS = Number(argValue('repeats') ?? (isSmoke() ? 2 : 7));
/** How many copies of the system prompt the timing part uses: a long prompt shows the saving best. */
const LONG_COPIES = Number(argValue('copies') ?? (isSmoke() ? 2 : 8));
const SYSTEM =
  'You are Fortune, a cheerful fortune teller for software engineers. Answer in one or two short ' +
  'sentences. Mention computers, networks or caches when you can, and always end on a hopeful note.';
const QUESTION_A = 'Tell me a fortune about computers.';
const QUESTION_B = 'Tell me a fortune about cats.';

let requestCount = 0;
const nextId = (what: string) => `lab-1.5-${what}-${++requestCount}`;

function chatIds(tokenizer: Tokenizer, system: string, question: string): number[] {
  const text = tokenizer.applyChatTemplate(
    [
      { role: 'system', content: system },
      { role: 'user', content: question },
    ],
    { addGenerationPrompt: true },
  );
  return tokenizer.encode(text, { addSpecialTokens: false });
}

/** Tokens two prompts have in common from the start. */
function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

function showHashes(tokenizer: Tokenizer, a: number[], b: number[]): void {
  const ha = computeBlockHashes(a, BLOCK_SIZE);
  const hb = computeBlockHashes(b, BLOCK_SIZE);
  const rows = ha.sequence.map((seqA, i) => {
    const text = tokenizer.decode(a.slice(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE));
    const seqB = hb.sequence[i];
    return [
      i,
      `"${visible(text).slice(0, 28)}"`,
      shortHash(ha.local[i] as bigint),
      shortHash(seqA),
      seqB === undefined ? '(partial)' : shortHash(seqB),
      seqB === seqA ? 'yes: cache hit' : 'no',
    ];
  });
  printTable(['block', 'tokens of A', 'local hash', 'A: sequence hash', 'B: sequence hash', 'same?'], rows);
  const shared = ha.sequence.filter((h, i) => hb.sequence[i] === h).length;
  note(
    `A: ${a.length} tokens, B: ${b.length} tokens, identical for the first ${commonPrefix(a, b)} tokens. ` +
      `Only FULL blocks are hashed, and block i's key covers blocks 0..i.`,
  );
  note(`Shared full blocks: ${shared} (${shared * BLOCK_SIZE} tokens)`);
}

/** TTFT of one request with max_tokens 1 (pure prefill + scheduling), and its cached-token count. */
async function ttft(engine: LlmEngine, prompt: number[]): Promise<{ ms: number; cached: number }> {
  const timing = await timeRequest(engine, benchRequest(nextId('ttft'), prompt, 1));
  return { ms: requestMetrics(timing).ttftMs, cached: timing.numCachedTokens };
}

async function measureColdWarm(engine: LlmEngine, a: number[], b: number[]): Promise<void> {
  const rows: (string | number)[][] = [];
  const cold: number[] = [];
  const warm: number[] = [];
  let warmCached = 0;
  for (let r = 0; r <= REPEATS; r++) {
    // An empty cache makes A a real miss every time; reset is refused while any block is in use.
    if (!engine.kv.resetPrefixCache())
      throw new Error('prefix cache reset refused: a request still holds blocks');
    const c = await ttft(engine, a);
    const w = await ttft(engine, b);
    if (r === 0) continue; // warm-up pair: JIT and scratch buffers, not caching
    cold.push(c.ms);
    warm.push(w.ms);
    warmCached = w.cached;
    rows.push([r, formatMs(c.ms), c.cached, formatMs(w.ms), w.cached]);
  }
  printTable(['repeat', 'TTFT A (cold)', 'A cached tokens', 'TTFT B (warm)', 'B cached tokens'], rows);
  const coldMs = median(cold);
  const warmMs = median(warm);
  note(`Warm requests: ${warmCached} of ${b.length} prompt tokens cached (numCachedTokens)`);
  note(
    `TTFT median: cold ${coldMs.toFixed(2)} ms, warm ${warmMs.toFixed(2)} ms → ${(coldMs / warmMs).toFixed(1)}× faster ` +
      `(prefill ${b.length - warmCached} instead of ${b.length} tokens)`,
  );
  const same = await ttft(engine, b);
  note(
    `The very same prompt again: ${same.cached} of ${b.length} cached. Never all of it: the last token must ` +
      'be computed to get the scores for the next one, so a full hit backs off to the last full block before it.',
  );
}

/** Run A and B at once and draw their block tables at a moment when both hold blocks. */
async function showSharedBlocks(
  engine: LlmEngine,
  tokenizer: Tokenizer,
  a: number[],
  b: number[],
): Promise<void> {
  if (!engine.kv.resetPrefixCache())
    throw new Error('prefix cache reset refused: a request still holds blocks');
  const idA = nextId('A');
  const idB = nextId('B');
  let snapshot: NamedBlockTable[] | undefined;
  const unsubscribe = engine.onStep(() => {
    const tA = engine.kv.getBlockTable(asRequestId(idA));
    const tB = engine.kv.getBlockTable(asRequestId(idB));
    if (!snapshot && tA.length > 0 && tB.length > 0) {
      snapshot = [
        { name: 'request A', blockIds: [...tA] },
        { name: 'request B', blockIds: [...tB] },
      ];
    }
  });
  try {
    const streamA = engine.generate(benchRequest(idA, a, 12))[Symbol.asyncIterator]();
    await streamA.next(); // A's prefill is done: its full blocks are in the prefix cache
    const doneB = timeRequest(engine, benchRequest(idB, b, 4));
    while (!(await streamA.next()).done) {}
    const timingB = await doneB;
    if (!snapshot) throw new Error('never saw A and B running together');
    for (const line of renderBlockTables(snapshot)) note(line);
    note('');
    const first = Math.max(0, Math.min(...snapshot.flatMap((t) => t.blockIds)) - 2);
    const shown = Math.min(12, NUM_KV_BLOCKS - first);
    for (const line of renderPoolMap(first, shown, snapshot)) note(line);
    note(
      `(blocks ${first}..${first + shown - 1} of ${NUM_KV_BLOCKS}; '.' = refCnt 0: free, or cached but idle)`,
    );

    const counts = refCounts(snapshot);
    const hashesA = computeBlockHashes(a, BLOCK_SIZE);
    const cachedNow = new Set(
      engine.kv
        .dumpCachedBlocks()
        .flatMap((e) => (e.data.type === 'stored' ? e.data.blocks.map((x) => x.blockHash) : [])),
    );
    const tableA = snapshot[0] as NamedBlockTable;
    printTable(
      ['A logical', 'physical id', 'refCnt', 'sequence hash', 'in prefix cache', 'tokens'],
      tableA.blockIds.map((id, i) => {
        const hash = hashesA.sequence[i];
        return [
          i,
          id,
          counts.get(id) ?? 0,
          hash === undefined ? '(partial block)' : shortHash(hash),
          hash !== undefined && cachedNow.has(hash.toString(10)) ? 'yes' : 'no',
          `"${visible(tokenizer.decode(a.slice(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE))).slice(0, 24)}"`,
        ];
      }),
    );
    note(
      `B reported numCachedTokens = ${timingB.numCachedTokens}: it mapped A's blocks instead of recomputing them.`,
    );
  } finally {
    unsubscribe();
  }
}

async function main(): Promise<void> {
  banner('1.5', 'The KV cache as a memoization table');

  step('Load the engine (prefix caching on, 64 KV blocks of 16 tokens) and the tokenizer');
  const engine = await LlmEngine.create({
    modelDir: defaultModelDir,
    numKvBlocks: NUM_KV_BLOCKS,
    enablePrefixCaching: true,
  });
  const tokenizer = await Tokenizer.fromDir(defaultModelDir);
  try {
    const a = chatIds(tokenizer, SYSTEM, QUESTION_A);
    const b = chatIds(tokenizer, SYSTEM, QUESTION_B);

    step('Two chats with the same system prompt: hash their blocks (the memoization keys)');
    note(`A: system prompt + "${QUESTION_A}"   B: system prompt + "${QUESTION_B}"`);
    showHashes(tokenizer, a, b);

    const longSystem = Array.from({ length: LONG_COPIES }, () => SYSTEM).join(' ');
    const longA = chatIds(tokenizer, longSystem, QUESTION_A);
    const longB = chatIds(tokenizer, longSystem, QUESTION_B);
    step(
      `Cold vs warm: TTFT of A on an empty cache, then B (${REPEATS} repeats, ${longA.length}-token prompts)`,
    );
    await measureColdWarm(engine, longA, longB);

    step('A and B running at the same time: two block tables, one set of physical blocks');
    await showSharedBlocks(engine, tokenizer, a, b);
    const stats = engine.kv.stats();
    note(
      `Prefix cache so far: ${stats.hits} hits in ${stats.queries} lookups, ${stats.hitTokens} of ` +
        `${stats.queryTokens} prompt tokens served from cache; ${stats.numCachedBlocks} blocks cached.`,
    );
    engine.kv.checkInvariants();
  } finally {
    await engine.close();
  }

  step('Eviction: a pool too small for everything (numKvBlocks: 10), watched through KV events');
  await demonstrateEviction(chatIds(tokenizer, SYSTEM, QUESTION_A), tokenizer.vocabSize);
}

runLab(main);
