/**
 * `npm run bench:replay`: how fast `dhw replay` simulates, and how close the fast simulator is to the
 * exact one (issue 12, item 3: the whole shared trace with 8 workers in under 3 s of one core, no policy
 * more than 1.5x round-robin's time).
 *
 * Speed (default): every policy on each input with `--sim` (fast by default), CPU seconds of this process
 * (process.cpuUsage, user + system: the box is shared, so wall time is not comparable) for the replay
 * alone, its ratio to round-robin's, and the headline metrics. The hit-rate ceiling every report carries
 * is computed once per trace (`traceCeiling`) and printed apart. A warm-up pass (the first 200 requests,
 * every policy) loads the modules first.
 *
 * Accuracy (`--accuracy`): every policy on the first --max-requests of each input with both simulators;
 * prints hit rate, TTFT mean / p99, TPOT p99 and ITL p99 of each and the fast one's relative difference.
 *
 *   repo          traces/mooncake_synthetic_trace.jsonl (3,993 requests)
 *   tool-agent    `dhw trace generate --kind tool-agent --seed 1 --sessions 11800` (23,686 requests)
 *   conversation  `dhw trace generate --kind conversation --seed 1 --sessions 2000` (3,174 requests)
 *
 * Options: --inputs repo,tool-agent  --policies random,round-robin,…  --workers 8  --sim fast|exact
 *          --accuracy  --max-requests 1000  --time-scale 1
 */
import { parseArgs } from 'node:util';
import {
  readTrace,
  runReplay,
  type SimMode,
  sessionTrace,
  sessionTraceOptions,
  summarizeReplay,
  type TraceRecord,
  traceCeiling,
} from '../src/replay/index.ts';
import { BUILTIN_POLICIES } from '../src/router/index.ts';
import { configureLogging } from '../src/util/logger.ts';
import { startProgress } from '../src/util/progress.ts';
import { describeMachine, machineLine } from './lib/machine.ts';

const { values } = parseArgs({
  options: {
    inputs: { type: 'string' },
    policies: { type: 'string', default: BUILTIN_POLICIES.join(',') },
    workers: { type: 'string', default: '8' },
    sim: { type: 'string', default: 'fast' },
    accuracy: { type: 'boolean', default: false },
    'max-requests': { type: 'string', default: '1000' },
    'time-scale': { type: 'string', default: '1' },
  },
});
configureLogging({ level: 'error' });

const INPUTS: Record<string, () => TraceRecord[]> = {
  repo: () => readTrace(new URL('../traces/mooncake_synthetic_trace.jsonl', import.meta.url).pathname),
  'tool-agent': () => sessionTrace(sessionTraceOptions('tool-agent', { sessions: 11_800, seed: 1 })),
  conversation: () => sessionTrace(sessionTraceOptions('conversation', { sessions: 2000, seed: 1 })),
};
const workers = Number(values.workers);
const timeScale = Number(values['time-scale']);
const policies = values.policies.split(',');
const inputs = (
  values.inputs ?? (values.accuracy ? 'repo,conversation,tool-agent' : 'repo,tool-agent')
).split(',');

function load(name: string): TraceRecord[] {
  const make = INPUTS[name];
  if (make === undefined) throw new Error(`--inputs takes ${Object.keys(INPUTS).join(', ')}; got ${name}`);
  return make();
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

async function replay(trace: TraceRecord[], router: string, sim: SimMode) {
  const ceilingOptions = { blockSize: 16, traceBlockSize: 512, capacityBlocks: workers * 65_536 };
  traceCeiling(trace, ceilingOptions); // once per trace, outside the measured time
  const started = process.cpuUsage();
  const result = await runReplay(trace, { router, workers, sim, timeScale });
  const cpuS = cpuSeconds(started);
  return { cpuS, wallS: result.wallMs / 1000, metrics: summarizeReplay(result) };
}

const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)} %`);
const ms = (x: number | null) => (x === null ? '–' : x.toFixed(1));
const diff = (fast: number | null, exact: number | null) =>
  fast === null || exact === null || exact === 0 ? '–' : `${(((fast - exact) / exact) * 100).toFixed(1)} %`;

async function speed(): Promise<void> {
  const warm = INPUTS.repo!().slice(0, 200);
  for (const policy of policies) await replay(warm, policy, values.sim as SimMode);
  console.log(`sim ${values.sim}, ${workers} workers, time scale ${timeScale}`);
  console.log(
    '| input | requests | policy | CPU s | ÷ round-robin | wall s | prefix hit | TTFT mean ms | TTFT p99 ms |',
  );
  console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|');
  for (const name of inputs) {
    const trace = load(name);
    // One step per replay (not per request: a per-request callback would sit inside the CPU time measured).
    const progress = startProgress({ label: `bench:replay ${name}`, total: policies.length, unit: 'runs' });
    const ceilingStarted = process.cpuUsage();
    traceCeiling(trace, { blockSize: 16, traceBlockSize: 512, capacityBlocks: workers * 65_536 });
    const ceilingS = cpuSeconds(ceilingStarted);
    let baseline: number | undefined;
    const rows: string[] = [];
    for (const policy of policies) {
      const r = await replay(trace, policy, values.sim as SimMode);
      progress.increment(1, policy);
      if (policy === 'round-robin') baseline = r.cpuS;
      rows.push(
        `| ${name} | ${trace.length} | ${policy} | ${r.cpuS.toFixed(2)} | RATIO:${r.cpuS} | ${r.wallS.toFixed(2)} | ` +
          `${pct(r.metrics.prefixHitRate)} | ${ms(r.metrics.ttftMs.mean)} | ${ms(r.metrics.ttftMs.p99)} |`,
      );
    }
    progress.stop(); // a terminal's bar is cleared before the table rows are printed
    for (const row of rows) {
      console.log(
        row.replace(/RATIO:([0-9.e-]+)/, (_, cpu: string) =>
          baseline === undefined ? '–' : `${(Number(cpu) / baseline).toFixed(2)}x`,
        ),
      );
    }
    console.log(`| ${name} | | (hit-rate ceiling, once per trace) | ${ceilingS.toFixed(2)} | | | | | |`);
  }
}

async function accuracy(): Promise<void> {
  const max = Number(values['max-requests']);
  console.log(`fast vs exact, ${workers} workers, first ${max} requests, time scale ${timeScale}`);
  console.log(
    '| input | policy | hit exact | hit fast | TTFT mean exact | fast | Δ | TTFT p99 exact | fast | Δ | ' +
      'TPOT p99 exact | fast | Δ | ITL p99 exact | fast | CPU s exact | fast |',
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const name of inputs) {
    const trace = load(name).slice(0, max);
    for (const policy of policies) {
      const exact = await replay(trace, policy, 'exact');
      const fast = await replay(trace, policy, 'fast');
      const [e, f] = [exact.metrics, fast.metrics];
      console.log(
        `| ${name} | ${policy} | ${pct(e.prefixHitRate)} | ${pct(f.prefixHitRate)} | ` +
          `${ms(e.ttftMs.mean)} | ${ms(f.ttftMs.mean)} | ${diff(f.ttftMs.mean, e.ttftMs.mean)} | ` +
          `${ms(e.ttftMs.p99)} | ${ms(f.ttftMs.p99)} | ${diff(f.ttftMs.p99, e.ttftMs.p99)} | ` +
          `${ms(e.tpotMs.p99)} | ${ms(f.tpotMs.p99)} | ${diff(f.tpotMs.p99, e.tpotMs.p99)} | ` +
          `${ms(e.itlMs.p99)} | ${ms(f.itlMs.p99)} | ${exact.cpuS.toFixed(1)} | ${fast.cpuS.toFixed(2)} |`,
      );
    }
  }
}

console.log(machineLine(describeMachine()));
await (values.accuracy ? accuracy() : speed());
