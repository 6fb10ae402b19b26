/**
 * `npm run bench:disagg`: when does disaggregated prefill/decode pay? The same number of simulated workers
 * serve the same requests twice, aggregated (every worker prefills and decodes) and disaggregated (P
 * prefill + D decode workers, the frontend's decision rule, KV over a simulated link), in virtual time
 * through the real router and scheduler (`dhw replay`'s machinery). Reported as ratios disagg ÷ agg:
 * ITL p99 (are decode batches still stalled by long prefills?) and TTFT mean (what the hand-off costs).
 *
 * Sweeps: P:D splits; link speed; prompt mix (long fraction, long length); offered load; and the
 * repository's Mooncake trace. Prints Markdown tables, writes an SVG chart, and ends with the goal check
 * (ITL p99 ≤ 0.50× at TTFT mean ≤ 1.20×) and where disaggregation stops paying. Constants are the
 * mocker's and Dynamo's defaults; nothing is tuned to the goal.
 *
 * Options: --workers 8  --splits 1:7,2:6,3:5,4:4  --links 1,10,25,100,400 (Gbit/s)  --latency 10us
 *   --link 25 (headline Gbit/s)  --requests 400  --rate 16  --long-tokens 8192  --short-tokens 200
 *   --long-fraction 0.2  --output-tokens 256  --long-fractions 0.05,0.1,0.2,0.4
 *   --long-lengths 2048,8192,16384  --rates 8,16,32,48  --trace-requests 1000  --seed 0
 *   --kv-transfer-mode whole|layerwise  --disagg-rule dynamo|link-aware  (for sections 1–5; default: replay's)
 *   --mode-links 10,25,100,400  --mode-rates 16,48  (section 6: every mode × rule at those links and loads)
 *   --out bench/results/disagg.svg  --smoke (tiny, for the test)
 */
import { writeChartFiles } from '../src/util/chart-files.ts';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DISAGG_RULES,
  KV_TRANSFER_MODES,
  type KvTransferMode,
  MIXED_TRACE_DEFAULTS,
  mixedTrace,
  readTrace,
} from '../src/replay/index.ts';
import type { DisaggRule } from '../src/router/index.ts';
import { configureLogging } from '../src/util/logger.ts';
import { repoRoot, traceFile } from '../src/util/paths.ts';
import { BenchArgError, positiveInt } from './lib/args.ts';
import { type DisaggChartData, renderDisaggChart } from './lib/disagg-chart.ts';
import {
  bestSplit,
  type Comparison,
  compare,
  GOAL,
  type HandOff,
  meetsGoal,
  parseSplits,
  type Split,
  splitName,
  whereItPays,
  Workload,
} from './lib/disagg-sweep.ts';
import { comparisonTable, type Row, ratio } from './lib/disagg-table.ts';
import { describeMachine, machineLine } from './lib/machine.ts';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '8' },
    splits: { type: 'string', default: '1:7,2:6,3:5,4:4' },
    links: { type: 'string', default: '1,10,25,100,400' },
    link: { type: 'string', default: '25' },
    latency: { type: 'string', default: '10us' },
    requests: { type: 'string', default: String(MIXED_TRACE_DEFAULTS.requests) },
    rate: { type: 'string', default: String(MIXED_TRACE_DEFAULTS.rate) },
    'long-tokens': { type: 'string', default: String(MIXED_TRACE_DEFAULTS.longTokens) },
    'short-tokens': { type: 'string', default: String(MIXED_TRACE_DEFAULTS.shortTokens) },
    'long-fraction': { type: 'string', default: String(MIXED_TRACE_DEFAULTS.longFraction) },
    'output-tokens': { type: 'string', default: String(MIXED_TRACE_DEFAULTS.outputTokens) },
    'long-fractions': { type: 'string', default: '0.05,0.1,0.2,0.4' },
    'long-lengths': { type: 'string', default: '2048,8192,16384' },
    rates: { type: 'string', default: '8,16,32,48' },
    'trace-requests': { type: 'string', default: '1000' },
    seed: { type: 'string', default: '0' },
    'kv-transfer-mode': { type: 'string' },
    'disagg-rule': { type: 'string' },
    'mode-links': { type: 'string', default: '10,25,100,400' },
    'mode-rates': { type: 'string', default: '16,48' },
    out: { type: 'string', default: join(repoRoot, 'bench', 'results', 'disagg.svg') },
    smoke: { type: 'boolean', default: false },
  },
});

function numberList(flag: string, text: string): number[] {
  const list = text.split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((n) => !(n > 0 && Number.isFinite(n)))) {
    throw new BenchArgError(`--${flag} needs positive numbers separated by commas, got "${text}"`);
  }
  return list;
}

function fraction(flag: string, text: string): number {
  const x = Number(text);
  if (!(x >= 0 && x <= 1)) throw new BenchArgError(`--${flag} must be between 0 and 1, got "${text}"`);
  return x;
}

const smoke = values.smoke!;
const workers = smoke ? 4 : positiveInt('workers', values.workers);
const config = {
  workers,
  splits: parseSplits(smoke ? '1:3,2:2' : values.splits!, workers),
  links: smoke ? [10, 400] : numberList('links', values.links!),
  headlineGbit: smoke ? 10 : numberList('link', values.link!)[0]!,
  latency: values.latency!,
  requests: smoke ? 40 : positiveInt('requests', values.requests),
  rate: smoke ? 8 : numberList('rate', values.rate!)[0]!,
  longTokens: smoke ? 2048 : positiveInt('long-tokens', values['long-tokens']),
  shortTokens: smoke ? 100 : positiveInt('short-tokens', values['short-tokens']),
  longFraction: smoke ? 0.25 : fraction('long-fraction', values['long-fraction']!),
  outputTokens: smoke ? 16 : positiveInt('output-tokens', values['output-tokens']),
  longFractions: smoke ? [0.1, 0.4] : numberList('long-fractions', values['long-fractions']!),
  longLengths: smoke ? [2048] : numberList('long-lengths', values['long-lengths']!),
  rates: smoke ? [8] : numberList('rates', values.rates!),
  traceRequests: smoke ? 10 : positiveInt('trace-requests', values['trace-requests']),
  seed: Number(values.seed),
  out: values.out!,
};
for (const f of config.longFractions) fraction('long-fractions', String(f));

function oneOf<T extends string>(
  flag: string,
  text: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (text === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(text))
    throw new BenchArgError(`--${flag} must be ${allowed.join(' or ')}, got "${text}"`);
  return text as T;
}
/** Sections 1–5 model the hand-off as replay does by default unless these flags say otherwise. */
const handOff: HandOff = {
  kvTransferMode: oneOf('kv-transfer-mode', values['kv-transfer-mode'], KV_TRANSFER_MODES),
  disaggRule: oneOf('disagg-rule', values['disagg-rule'], DISAGG_RULES),
};
const modeLinks = smoke ? [10, 400] : numberList('mode-links', values['mode-links']!);
const modeRates = smoke ? [8] : numberList('mode-rates', values['mode-rates']!);
const MODES: ReadonlyArray<{ kvTransferMode: KvTransferMode; disaggRule: DisaggRule }> =
  KV_TRANSFER_MODES.flatMap((kvTransferMode) =>
    DISAGG_RULES.map((disaggRule) => ({ kvTransferMode, disaggRule })),
  );
const modeName = (m: HandOff) => `${m.kvTransferMode}, ${m.disaggRule}`;

const linkSpec = (gbit: number) => `${gbit}gbit,${config.latency}`;
const kTokens = (n: number) => (n % 1024 === 0 ? `${n / 1024}k` : String(n));
const gbitLabel = (g: number) => `${g} Gbit/s`;

const workloads = new Map<string, Workload>();

/** The mixed long/short workload at one point of the sweeps (one Workload per point: its runs are remembered). */
function mixedWorkload(o: { longFraction?: number; longTokens?: number; rate?: number } = {}): Workload {
  const longFraction = o.longFraction ?? config.longFraction;
  const longTokens = o.longTokens ?? config.longTokens;
  const rate = o.rate ?? config.rate;
  const key = `${longFraction}/${longTokens}/${rate}`;
  const known = workloads.get(key);
  if (known) return known;
  const trace = mixedTrace({
    requests: config.requests,
    rate,
    longTokens,
    shortTokens: config.shortTokens,
    longFraction,
    outputTokens: config.outputTokens,
    seed: config.seed,
  });
  const name = `mixed ${kTokens(longTokens)}/${config.shortTokens}, ${longFraction * 100} % long, ${rate} req/s`;
  const workload = new Workload(name, trace, { seed: config.seed });
  workloads.set(key, workload);
  return workload;
}

interface SplitPoint {
  split: Split;
  comparison: Comparison;
}

/** Aggregated vs every split over one link. */
async function splitsAt(w: Workload, gbit: number, how: HandOff = handOff): Promise<SplitPoint[]> {
  const agg = await w.baseline(config.workers);
  const points: SplitPoint[] = [];
  for (const split of config.splits) {
    points.push({ split, comparison: compare(agg, await w.disaggregated(split, linkSpec(gbit), how)) });
  }
  return points;
}

const splitRows = (points: readonly SplitPoint[]): Row[] =>
  points.map((p) => ({ label: splitName(p.split), comparison: p.comparison }));

function progress(what: string): void {
  process.stderr.write(`bench:disagg: ${what} (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
}

configureLogging({ level: 'warn' });
const started = performance.now();
console.log(
  `# bench:disagg\n\n${machineLine(describeMachine())}; virtual time, mocker timing model; ` +
    `sections 1–5: KV transfer ${handOff.kvTransferMode ?? 'whole'}, rule ${handOff.disaggRule ?? 'dynamo'}\n`,
);

// 1. Headline workload: aggregated vs every split over the headline link.
const headline = mixedWorkload();
progress(`${headline.name}: splits at ${config.headlineGbit} Gbit/s`);
const headlineSplits = await splitsAt(headline, config.headlineGbit);
const best = bestSplit(headlineSplits);
console.log(`## ${headline.name}, ${config.workers} workers, link ${linkSpec(config.headlineGbit)}\n`);
console.log(comparisonTable('P:D', splitRows(headlineSplits)));

// 2. Link speed: every split at every link speed.
const linkSweep = new Map<string, Array<{ x: number; comparison: Comparison }>>();
console.log(`\n## Link speed (${headline.name})\n`);
const linkRows: Row[] = [];
for (const gbit of config.links) {
  progress(`link ${gbit} Gbit/s`);
  const points = gbit === config.headlineGbit ? headlineSplits : await splitsAt(headline, gbit);
  for (const p of points) {
    const name = splitName(p.split);
    linkSweep.set(name, [...(linkSweep.get(name) ?? []), { x: gbit, comparison: p.comparison }]);
    linkRows.push({ label: `${gbitLabel(gbit)}, ${name}`, comparison: p.comparison });
  }
}
console.log(comparisonTable('link, P:D', linkRows));

// 3. Prompt mix and load: at each point every split runs, and the point's best split (same rule) is reported.
interface SweepPoint<X> {
  x: X;
  split: Split;
  comparison: Comparison;
}

async function bestAt<X>(x: X, w: Workload, gbit: number, how: HandOff = handOff): Promise<SweepPoint<X>> {
  const point = bestSplit(await splitsAt(w, gbit, how));
  return { x, split: point.split, comparison: point.comparison };
}

async function sweep<X>(
  title: string,
  xs: readonly X[],
  workload: (x: X) => Workload,
  fmtX: (x: X) => string,
): Promise<Array<SweepPoint<X>>> {
  const points: Array<SweepPoint<X>> = [];
  for (const x of xs) {
    const w = workload(x);
    progress(`${title}: ${w.name}`);
    points.push(await bestAt(x, w, config.headlineGbit));
  }
  console.log(`\n## ${title} (best split per point, ${gbitLabel(config.headlineGbit)})\n`);
  const rows = points.map((p) => ({
    label: `${fmtX(p.x)}, ${splitName(p.split)}`,
    comparison: p.comparison,
  }));
  console.log(comparisonTable(`${title}, P:D`, rows));
  return points;
}
const fractionSweep = await sweep(
  'long fraction',
  config.longFractions,
  (f) => mixedWorkload({ longFraction: f }),
  (f) => `${f * 100} %`,
);
const lengthSweep = await sweep(
  'long prompt tokens',
  config.longLengths,
  (n) => mixedWorkload({ longTokens: n }),
  kTokens,
);

// Offered load × link speed: the long prefills' share of decode steps grows with load, the hand-off's
// cost falls with bandwidth; this grid shows where the two cross.
const loadByLink = new Map<number, Array<SweepPoint<number>>>();
const loadRows: Row[] = [];
for (const rate of config.rates) {
  const w = mixedWorkload({ rate });
  progress(`load: ${w.name}`);
  for (const gbit of config.links) {
    const point = await bestAt(rate, w, gbit);
    loadByLink.set(gbit, [...(loadByLink.get(gbit) ?? []), point]);
    loadRows.push({
      label: `${rate} req/s, ${gbitLabel(gbit)}, ${splitName(point.split)}`,
      comparison: point.comparison,
    });
  }
}
console.log('\n## Offered load × link speed (best split per point)\n');
console.log(comparisonTable('load, link, P:D', loadRows));
const rateSweep = loadByLink.get(config.headlineGbit) ?? [];
const goalMet = loadRows.filter((r) => meetsGoal(r.comparison)).map((r) => r.label);

// 4. The repository's Mooncake trace: every split over the headline link, then the link sweep.
const mooncake = new Workload(
  `Mooncake trace, first ${config.traceRequests} requests`,
  readTrace(traceFile('mooncake_synthetic_trace.jsonl'), { maxRequests: config.traceRequests }),
  { seed: config.seed },
);
progress(`${mooncake.name}: splits`);
const traceSplits = await splitsAt(mooncake, config.headlineGbit);
const traceBest = bestSplit(traceSplits);
console.log(`\n## ${mooncake.name}, link ${linkSpec(config.headlineGbit)}\n`);
console.log(comparisonTable('P:D', splitRows(traceSplits)));
const traceLinks: Array<{ x: number; comparison: Comparison }> = [];
for (const gbit of config.links) {
  progress(`${mooncake.name}: link ${gbit} Gbit/s`);
  const comparison =
    gbit === config.headlineGbit
      ? traceBest.comparison
      : compare(
          await mooncake.baseline(config.workers),
          await mooncake.disaggregated(traceBest.split, linkSpec(gbit), handOff),
        );
  traceLinks.push({ x: gbit, comparison });
}
console.log(`\n## ${mooncake.name}: link speed (split ${splitName(traceBest.split)})\n`);
console.log(
  comparisonTable(
    'link',
    traceLinks.map((p) => ({ label: gbitLabel(p.x), comparison: p.comparison })),
  ),
);

// 6. KV transfer mode × decision rule: whole vs layer-wise hand-off, Dynamo's rule vs the link-aware one,
// over link speed at each load (best split per point).
const modeSweep = new Map<string, Array<{ x: number; comparison: Comparison }>>();
const modeRows: Row[] = [];
const modeGoal: string[] = [];
for (const rate of modeRates) {
  const w = mixedWorkload({ rate });
  for (const gbit of modeLinks)
    for (const how of MODES) {
      progress(`modes: ${w.name}, ${gbitLabel(gbit)}, ${modeName(how)}`);
      const point = await bestAt(rate, w, gbit, how);
      const label = `${rate} req/s, ${gbitLabel(gbit)}, ${modeName(how)}, ${splitName(point.split)}`;
      modeRows.push({ label, comparison: point.comparison });
      if (meetsGoal(point.comparison)) modeGoal.push(label);
      if (rate === modeRates.at(-1))
        modeSweep.set(modeName(how), [
          ...(modeSweep.get(modeName(how)) ?? []),
          { x: gbit, comparison: point.comparison },
        ]);
    }
}
console.log('\n## KV transfer mode × decision rule (best split per point)\n');
console.log(comparisonTable('load, link, mode, rule, P:D', modeRows));

// 7. Chart and verdict.
const chart: DisaggChartData = {
  title: `Disaggregated ÷ aggregated, ${config.workers} workers (virtual time)`,
  linkSweep: [...linkSweep].map(([name, points]) => ({ name, points })),
  fractionSweep: fractionSweep.map((p) => ({ x: p.x, comparison: p.comparison })),
  loadByLink: [...loadByLink].map(([gbit, points]) => ({ name: gbitLabel(gbit), points })),
  traceLinks,
  bestSplit: splitName(best.split),
  traceBestSplit: splitName(traceBest.split),
  links: config.links,
  modeSweep: [...modeSweep].map(([name, points]) => ({ name, points })),
  modeRate: modeRates.at(-1) as number,
};
mkdirSync(dirname(config.out), { recursive: true });
const chartFiles = await writeChartFiles(config.out, renderDisaggChart(chart));
console.log(
  `\nchart written to ${chartFiles.svg} and ${chartFiles.png}; ${((performance.now() - started) / 1000).toFixed(1)} s wall`,
);

console.log(
  `KV transfer mode × rule: goal met at (load, link, mode, rule, P:D): ${modeGoal.length > 0 ? modeGoal.join('; ') : 'none of the grid'}; ` +
    `at ${modeRates.at(-1)} req/s: ${[...modeSweep].map(([name, points]) => `${name}: ${whereItPays(points, gbitLabel)}`).join('; ')}`,
);
const bestLinks = linkSweep.get(splitName(best.split))!;
const c = best.comparison;
console.log(
  `where it pays (ITL p99 < 1.00x at TTFT mean ≤ ${GOAL.ttftMeanRatio.toFixed(2)}x; link: split ${splitName(best.split)}, ` +
    'mix and load: best split per point): ' +
    `link: ${whereItPays(bestLinks, gbitLabel)}; long fraction: ${whereItPays(fractionSweep, (f) => `${f * 100} %`)}; ` +
    `long prompt: ${whereItPays(lengthSweep, kTokens)}; load at ${gbitLabel(config.headlineGbit)}: ` +
    `${whereItPays(rateSweep, (r) => `${r} req/s`)}; goal met (load, link): ${goalMet.length > 0 ? goalMet.join('; ') : 'nowhere'}; ` +
    `Mooncake trace, split ${splitName(traceBest.split)}: ${whereItPays(traceLinks, gbitLabel)}`,
);
console.log(
  `disagg vs agg (mixed ${kTokens(config.longTokens)}/${config.shortTokens}, ${config.headlineGbit}gbit): ` +
    `ITL p99 ${ratio(c.itlP99Ratio)}, TTFT mean ${ratio(c.ttftMeanRatio)} ` +
    `(goal ≤ ${GOAL.itlP99Ratio.toFixed(2)}x at ≤ ${GOAL.ttftMeanRatio.toFixed(2)}x): ` +
    `${meetsGoal(c) ? 'met' : 'NOT met'} (split ${splitName(best.split)}); over link speed it ` +
    `${whereItPays(bestLinks, gbitLabel)}; goal met at (load, link, P:D): ` +
    `${goalMet.length > 0 ? goalMet.join('; ') : 'none of the grid'}`,
);
