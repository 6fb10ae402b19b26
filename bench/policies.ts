/**
 * `npm run bench:policies`: every built-in routing policy on two inputs, for the router README's "which
 * policy when" table: prefix hit rate, TTFT mean / p99 and requests per worker, from `runReplay` (the real
 * router against mocker workers in virtual time).
 *
 *   trace   the first --max-requests lines of traces/mooncake_synthetic_trace.jsonl at --time-scale
 *   multi   a generated multi-turn workload (src/replay/multi-turn-trace.ts): --sessions
 *           conversations of 5 turns under one shared 2,048-token system prompt, each opening with a
 *           3,072-token message, growing by one 512-token answer + one 512-token question per turn
 *
 * Options: --workers 4  --policies random,round-robin,prefix-hash,least-loaded,kv,kv-approx,kv-ttft
 *          --max-requests 1500  --time-scale 0.5  --sessions 120  --inputs trace,multi  --no-predict
 */
import { parseArgs } from 'node:util';
import { readTrace, runReplay, summarizeReplay, type TraceRecord } from '../src/replay/index.ts';
import { multiTurnTrace } from '../src/replay/multi-turn-trace.ts';
import { configureLogging } from '../src/util/logger.ts';
import { startProgress } from '../src/util/progress.ts';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '4' },
    policies: { type: 'string', default: 'random,round-robin,prefix-hash,least-loaded,kv,kv-approx,kv-ttft' },
    'max-requests': { type: 'string', default: '1500' },
    'time-scale': { type: 'string', default: '0.5' },
    sessions: { type: 'string', default: '120' },
    inputs: { type: 'string', default: 'trace,multi' },
    'no-predict': { type: 'boolean', default: false },
  },
});
configureLogging({ level: 'error' });

function input(name: string): { trace: TraceRecord[]; timeScale: number } {
  if (name === 'trace') {
    const trace = readTrace(new URL('../traces/mooncake_synthetic_trace.jsonl', import.meta.url).pathname, {
      maxRequests: Number(values['max-requests']),
    });
    return { trace, timeScale: Number(values['time-scale']) };
  }
  if (name === 'multi') {
    const trace = multiTurnTrace({
      sessions: Number(values.sessions),
      turns: 5,
      systemBlocks: 4,
      firstUserBlocks: 6,
      userBlocks: 1,
      answerBlocks: 1,
      outputTokens: 200,
      sessionRate: 4,
      thinkMs: 6000,
      seed: 7,
    });
    return { trace, timeScale: 1 };
  }
  throw new Error(`--inputs takes trace and/or multi, got ${JSON.stringify(name)}`);
}

const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)} %`);
console.log('| input | policy | prefix hit | TTFT mean | TTFT p99 | requests per worker |');
console.log('|---|---|---:|---:|---:|---|');
for (const name of values.inputs.split(',')) {
  const { trace, timeScale } = input(name);
  for (const router of values.policies.split(',')) {
    const progress = startProgress({ label: `${name} ${router}`, total: trace.length, unit: 'requests' });
    const result = await runReplay(trace, {
      router,
      workers: Number(values.workers),
      timeScale,
      predictBlocks: !values['no-predict'],
      onProgress: (finished) => progress.update(finished),
    }).finally(() => progress.stop());
    const m = summarizeReplay(result);
    const perWorker = result.workers.map((w) => w.requests).join(' / ');
    console.log(
      `| ${name} (${trace.length}) | ${router} | ${pct(m.prefixHitRate)} | ${Math.round(m.ttftMs.mean ?? Number.NaN)} ms | ` +
        `${Math.round(m.ttftMs.p99 ?? Number.NaN)} ms | ${perWorker} |`,
    );
  }
}
