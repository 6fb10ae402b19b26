/**
 * `npm run bench:router`: how fast is the KV router's decision, and how much memory does its index take?
 *
 * For each (workers, indexed blocks) configuration:
 *   1. build the index the way a live router does, by applying `stored` KV events (16 blocks each, wire
 *      form: decimal-string hashes) from a synthetic cache population; time only `applyEvent` (events/s);
 *   2. route requests with realistic prefix reuse (70 % continue a cached conversation, 20 % start a new
 *      conversation under a shared system prompt, 10 % are new) through `Router.route` with the `kv` policy
 *      and precomputed block hashes; time each decision (p50/p99/p99.9, µs, wall; p50/p99 of process CPU
 *      time), with the decision log off and with its fields built ("explain"), and the process CPU time per
 *      request (route + first token + end), and the heap bytes one decision allocates (median; what feeds
 *      the young generation's scavenges), and "cold" decisions: timed right after flushing the CPU caches
 *      (64 MB written), every 8th request, the cost a preempted router pays (the tail on a busy machine);
 *   3. report the index's memory per indexed (worker, block) entry: live heap + array buffers after a full
 *      GC, before and after applying the events (needs `--expose-gc`, which `npm run bench:router` passes),
 *      and heap and RSS after the build.
 * Indexing speed is reported per wall second and per CPU second of the process (the box may be shared).
 * Prompt hashing (tokens/block-hash.ts, XXH3 in WASM) is timed separately: it is not the router's cost.
 * Goals (issue 12): ≥ 1M stored blocks/s, decision p99 ≤ 50 µs at 64 workers / 1M blocks, ≤ 100 bytes per
 * indexed block. Tests never assert timings.
 *
 * Each measurement is repeated `--rounds` times and the round with the lowest p99 is reported: on a shared
 * machine, other processes and GC only ever add time, so the best round is the closest to the router's own cost.
 *
 * Options: --workers 8,64  --blocks 10000,1000000  --requests 5000  --rounds 3  --seed 1  --smoke (tiny, for CI)
 *          --policy kv (one or more built-in policies, comma-separated: one row per policy per configuration)
 *
 * The synthetic cluster and request mix: `lib/router-index.ts`; the decision measurements: `lib/router-decisions.ts`.
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { BUILTIN_POLICIES, type BuiltinPolicyName, isBuiltinPolicy } from '../src/router/index.ts';
import { computeBlockHashes } from '../src/tokens/block-hash.ts';
import { configureLogging } from '../src/util/logger.ts';
import { Mulberry32 } from '../src/util/prng.ts';
import { startProgress } from '../src/util/progress.ts';
import {
  allocatedBytesPerDecision,
  bestOf,
  measureColdDecisions,
  measureDecisions,
} from './lib/router-decisions.ts';
import { BLOCK_SIZE, buildIndex, liveBytes, makeRequests } from './lib/router-index.ts';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '8,64' },
    blocks: { type: 'string', default: '10000,1000000' },
    requests: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    policy: { type: 'string', default: 'kv' },
    smoke: { type: 'boolean', default: false },
  },
});
const smoke = values.smoke!;
const workerCounts = smoke ? [4, 16] : intList('workers', values.workers!);
const blockCounts = smoke ? [2000] : intList('blocks', values.blocks!);
const numRequests = smoke ? 200 : intList('requests', values.requests!)[0]!;
const rounds = smoke ? 1 : intList('rounds', values.rounds!)[0]!;
const seed = Number(values.seed);
const policies = policyList(values.policy!);

function policyList(text: string): BuiltinPolicyName[] {
  const list = text.split(',').map((s) => s.trim());
  const unknown = list.filter((name) => !isBuiltinPolicy(name));
  if (unknown.length > 0) {
    throw new RangeError(
      `--policy: unknown ${unknown.join(', ')}; built-in policies: ${BUILTIN_POLICIES.join(', ')}`,
    );
  }
  return list as BuiltinPolicyName[];
}

function intList(flag: string, text: string): number[] {
  const list = text.split(',').map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new RangeError(`--${flag} needs positive integers separated by commas, got "${text}"`);
  }
  return list;
}

function hashingMicrosPer1kTokens(): number {
  const prompt = Array.from({ length: 1024 }, (_, i) => (i * 7919) % 32000);
  for (let i = 0; i < 200; i++) computeBlockHashes(prompt, BLOCK_SIZE);
  const n = smoke ? 50 : 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) computeBlockHashes(prompt, BLOCK_SIZE);
  return ((performance.now() - t0) * 1000) / n;
}

configureLogging({ level: 'warn' }); // no per-worker 'worker added' lines in the report

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
const f1 = (x: number) => x.toFixed(1);

console.log(
  `machine: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), node ${process.version}, load ${loadavg()[0]!.toFixed(2)}`,
);
console.log(
  `router:  ${policies.join(', ')} (default options, seed ${seed}), block size ${BLOCK_SIZE}, ${numRequests} requests per row, best of ${rounds} round(s)${smoke ? ' (smoke)' : ''}\n`,
);
const rssBefore = process.memoryUsage().rss;
const rows: string[] = [];
// One step per table row (building a 1M-block index takes seconds); nothing per decision, which is measured.
const progress = startProgress({
  label: 'bench:router',
  total: blockCounts.length * workerCounts.length,
  unit: 'rows',
});
for (const numBlocks of blockCounts) {
  for (const numWorkers of workerCounts) {
    const rng = new Mulberry32(seed * 7919 + numWorkers);
    const built = buildIndex(numWorkers, numBlocks, rng, seed);
    const memory = process.memoryUsage();
    const requests = makeRequests(built, numRequests, rng);
    for (const policy of policies) {
      const setup = { policy, explain: false, seed };
      const plain = bestOf(rounds, () => measureDecisions(built, requests, setup));
      const explained = bestOf(rounds, () => measureDecisions(built, requests, { ...setup, explain: true }));
      const allocated = allocatedBytesPerDecision(built, requests, setup);
      const cold = measureColdDecisions(built, requests, setup);
      const stats = built.router.indexer.stats();
      rows.push(
        `| ${numWorkers} | ${policy} | ${built.indexedBlocks} | ${stats.blocks} | ${(built.events / built.applySeconds).toFixed(0)} | ` +
          `${(built.indexedBlocks / built.applySeconds).toFixed(0)} | ${(built.indexedBlocks / built.applyCpuSeconds).toFixed(0)} | ` +
          `${f1(plain.p50)} | ${f1(plain.p99)} | ${f1(plain.p999)} | ${f1(plain.cpuP50)} | ${f1(plain.cpuP99)} | ${f1(cold.p50)} | ${f1(cold.p99)} | ${f1(plain.cpuMicros)} | ${allocated} | ` +
          `${f1(explained.p50)} | ${f1(explained.p99)} | ${f1(plain.meanOverlap)} | ` +
          `${built.indexBytes === undefined ? 'n/a' : (built.indexBytes / built.indexedBlocks).toFixed(0)} / ` +
          `${(built.router.indexer.blocks.tableBytes / built.indexedBlocks).toFixed(0)} | ` +
          `${mib(memory.heapUsed)} | ${mib(memory.rss)} |`,
      );
    }
    progress.increment(1, `${numWorkers} workers, ${numBlocks} blocks`);
  }
}
progress.stop();
console.log(
  '| workers | policy | indexed blocks | distinct blocks | events/s (16 blocks) | stored blocks/s | stored blocks/CPU-s | ' +
    'decision p50 µs | decision p99 µs | decision p99.9 µs | decision CPU p50 µs | decision CPU p99 µs | cold decision p50 µs | cold decision p99 µs | CPU µs per request | heap bytes per decision | explain p50 µs | explain p99 µs | mean overlap blocks | ' +
    'bytes per indexed block (live memory Δ / table) | heap MiB | RSS MiB |',
);
console.log(`|---:|---|${'---:|'.repeat(20)}`);
for (const row of rows) console.log(row);
console.log(
  `\nRSS before building any index: ${mib(rssBefore)} MiB (heap and RSS columns are measured after each build; earlier indexes may not be collected yet)`,
);
console.log(
  `prompt hashing (tokens/block-hash.ts, not part of the decision): ${f1(hashingMicrosPer1kTokens())} µs per 1024-token prompt`,
);
if (liveBytes() === undefined)
  console.log('bytes per indexed block: n/a (run node with --expose-gc, as `npm run bench:router` does)');
console.log(
  `goals at 64 workers / 1M blocks: ≥ 1M stored blocks/s, decision p99 ≤ 50 µs, ≤ 100 bytes per indexed block ` +
    `(load average at the end: ${loadavg()[0]!.toFixed(2)})`,
);
