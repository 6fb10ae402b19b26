/**
 * `dhw bench --url http://HOST:PORT/v1 [--concurrency C | --request-rate R | --trace FILE] ...`: a load
 * generator for any OpenAI-compatible endpoint (ours, vLLM, SGLang, llama.cpp's server), with vLLM
 * `bench serve`'s flag names and result keys. Like `wrk` for LLM servers: it measures from the client what
 * a user would feel (TTFT, ITL, TPOT, E2E, throughput, goodput).
 */
import { writeFileSync } from 'node:fs';
import {
  type BenchRun,
  type BenchSessionOptions,
  formatCsv,
  formatResultBlock,
  parseGoodput,
  parseSweep,
  type PromptSpec,
  progressBar,
  renderRunChart,
  renderSweepChart,
  runBenchSession,
  type SweepSpec,
} from '../../loadgen/index.ts';
import { Tokenizer } from '../../tokens/index.ts';
import { writeChartFiles } from '../../util/chart-files.ts';
import { LOGGING_FLAGS, numberFlag, type ParsedCommand, stringFlag, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { beginCommand } from '../command-prologue.ts';

const FLAGS = {
  url: {
    type: 'string' as const,
    default: 'http://127.0.0.1:8000/v1',
    help: 'base URL of the server, ending in /v1',
  },
  model: { type: 'string' as const, help: 'served model name (default: the first one GET /v1/models lists)' },
  'api-key': {
    type: 'string' as const,
    help: 'sent as "Authorization: Bearer KEY" (default: $OPENAI_API_KEY, as vLLM\'s bench)',
  },
  api: {
    type: 'string' as const,
    default: 'completions',
    help: 'completions (/v1/completions) | chat (/v1/chat/completions)',
  },
  'request-rate': {
    type: 'string' as const,
    help: 'open loop: arrivals per second (default: all at once, paced by --concurrency)',
  },
  arrival: {
    type: 'string' as const,
    default: 'poisson',
    help: 'with --request-rate: poisson | constant gaps',
  },
  concurrency: {
    type: 'string' as const,
    help: 'most requests in flight (vLLM --max-concurrency); alone = closed loop of C users',
  },
  'num-prompts': { type: 'string' as const, default: '200', help: 'synthetic prompts to send' },
  'input-len': {
    type: 'string' as const,
    default: '256',
    help: 'synthetic prompt length in tokens (about, unless --tokenizer)',
  },
  'output-len': { type: 'string' as const, default: '64', help: 'max_tokens of each request' },
  'prefix-len': {
    type: 'string' as const,
    default: '0',
    help: 'tokens of a prefix every synthetic prompt shares',
  },
  'range-ratio': { type: 'string' as const, default: '0', help: 'lengths uniform in [len·(1−r), len·(1+r)]' },
  prompts: {
    type: 'string' as const,
    help: 'JSONL file of {"prompt": "...", "output_len"?: N} instead of synthetic prompts',
  },
  trace: {
    type: 'string' as const,
    help: 'Mooncake-format trace: replay its timestamps, lengths and shared prefixes in real time',
  },
  'time-scale': {
    type: 'string' as const,
    default: '1',
    help: 'with --trace: multiply timestamps (0.25 = 4× the arrival rate)',
  },
  'trace-block-size': { type: 'string' as const, default: '512', help: 'with --trace: tokens per hash id' },
  'max-requests': { type: 'string' as const, help: 'with --trace: only the first N records' },
  tokenizer: {
    type: 'string' as const,
    help: 'model folder whose tokenizer.json makes synthetic lengths exact',
  },
  seed: { type: 'string' as const, default: '0', help: 'seed for prompts and Poisson arrivals' },
  goodput: { type: 'string' as const, help: 'SLOs for goodput, e.g. "ttft:500 tpot:50" (ms; also e2el:MS)' },
  'ignore-eos': {
    type: 'boolean' as const,
    help: 'send ignore_eos (vLLM/SGLang/ours): every reply is exactly --output-len',
  },
  temperature: {
    type: 'string' as const,
    help: "sampling temperature sent with each request (default: the server's)",
  },
  timeout: { type: 'string' as const, default: '600', help: 'seconds before one request counts as failed' },
  sweep: {
    type: 'string' as const,
    help: 'request-rate=1,2,4,... or concurrency=1,8,32,...: one run per value, one chart',
  },
  json: { type: 'boolean' as const, help: 'print the result as one JSON line (vLLM bench serve keys) last' },
  'json-file': { type: 'string' as const, help: 'also write the JSON result here' },
  csv: { type: 'string' as const, help: 'write one CSV row per run here' },
  plot: {
    type: 'string' as const,
    help: 'write FILE.svg and FILE.png (CDFs and throughput; a sweep: latency vs throughput)',
  },
  ...LOGGING_FLAGS,
};

const USAGE =
  'dhw bench [--url http://127.0.0.1:8000/v1] [--model M] [--concurrency C | --request-rate R | --trace FILE]\n' +
  '          [--num-prompts N --input-len I --output-len O --prefix-len P | --prompts FILE.jsonl]\n' +
  '          [--goodput "ttft:500 tpot:50"] [--sweep concurrency=1,8,32] [--json] [--csv F] [--plot F]';
const DESCRIPTION =
  "Load-test any OpenAI-compatible server from the client side, with vLLM `bench serve`'s metric names:\n" +
  'TTFT, TPOT, ITL and E2E latency (mean, median, p90, p99), request/token throughput and goodput,\n' +
  'measured from streamed chunks. Example against `npm start`: dhw bench --concurrency 8 --num-prompts 200';

function int(values: ParsedCommand['values'], name: string, min = 1): number | undefined {
  return numberFlag(values, name, { integer: true, min });
}

function promptSpec(values: ParsedCommand['values']): PromptSpec {
  const trace = stringFlag(values, 'trace');
  const file = stringFlag(values, 'prompts');
  if (trace && file) throw new UsageError('--trace and --prompts both choose prompts: pass one');
  if (trace) {
    return {
      kind: 'trace',
      path: trace,
      timeScale: numberFlag(values, 'time-scale', { min: 0 })!,
      traceBlockSize: int(values, 'trace-block-size')!,
      maxRequests: int(values, 'max-requests'),
    };
  }
  if (file) return { kind: 'jsonl', path: file, outputLen: int(values, 'output-len')! };
  return {
    kind: 'synthetic',
    numPrompts: int(values, 'num-prompts')!,
    inputLen: int(values, 'input-len')!,
    outputLen: int(values, 'output-len')!,
    prefixLen: int(values, 'prefix-len', 0)!,
    rangeRatio: numberFlag(values, 'range-ratio', { min: 0 })!,
  };
}

function sessionOptions(values: ParsedCommand['values']): BenchSessionOptions {
  const api = stringFlag(values, 'api')!;
  if (api !== 'completions' && api !== 'chat')
    throw new UsageError(`--api must be completions or chat, got ${api}`);
  const arrival = stringFlag(values, 'arrival')!;
  if (arrival !== 'poisson' && arrival !== 'constant')
    throw new UsageError(`--arrival must be poisson or constant, got ${arrival}`);
  const prompts = promptSpec(values);
  const rate = numberFlag(values, 'request-rate', { min: 0 });
  if (prompts.kind === 'trace' && rate !== undefined)
    throw new UsageError('--trace sends at its own timestamps: drop --request-rate (use --time-scale)');
  const extraBody: Record<string, unknown> = {};
  if (values['ignore-eos'] === true) extraBody.ignore_eos = true;
  const temperature = numberFlag(values, 'temperature', { min: 0 });
  if (temperature !== undefined) extraBody.temperature = temperature;
  let goodput: BenchSessionOptions['goodput'];
  const spec = stringFlag(values, 'goodput');
  if (spec !== undefined) {
    try {
      goodput = parseGoodput(spec);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  return {
    baseUrl: stringFlag(values, 'url')!,
    model: stringFlag(values, 'model'),
    apiKey: stringFlag(values, 'api-key') ?? process.env.OPENAI_API_KEY,
    api,
    prompts,
    requestRate: rate === undefined || rate === 0 ? Number.POSITIVE_INFINITY : rate,
    arrival,
    concurrency: int(values, 'concurrency') ?? Number.POSITIVE_INFINITY,
    seed: int(values, 'seed', 0)!,
    goodput,
    extraBody,
    requestTimeoutMs: numberFlag(values, 'timeout', { min: 0 })! * 1000,
  };
}

function sweepFrom(values: ParsedCommand['values']): SweepSpec | undefined {
  const spec = stringFlag(values, 'sweep');
  if (spec === undefined) return undefined;
  let sweep: SweepSpec;
  try {
    sweep = parseSweep(spec);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (sweep.parameter === 'concurrency' && values.concurrency !== undefined)
    throw new UsageError('--sweep concurrency=... sets the concurrency of each run: drop --concurrency');
  if (sweep.parameter === 'request-rate' && values['request-rate'] !== undefined)
    throw new UsageError('--sweep request-rate=... sets the rate of each run: drop --request-rate');
  if (sweep.parameter === 'request-rate' && values.trace !== undefined)
    throw new UsageError(
      '--trace sends at its own timestamps: sweep concurrency, or run --time-scale values one by one',
    );
  return sweep;
}

function jsonOf(
  model: string,
  o: BenchSessionOptions,
  prompts: number,
  run: BenchRun,
): Record<string, unknown> {
  return {
    date: new Date().toISOString(),
    backend: 'openai',
    endpoint_type: o.api,
    base_url: o.baseUrl,
    model_id: model,
    num_prompts: prompts,
    request_rate: Number.isFinite(o.requestRate) ? o.requestRate : 'inf',
    max_concurrency: Number.isFinite(o.concurrency) ? o.concurrency : null,
    ...run.label,
    ...run.result,
  };
}

export const benchCommand: Command = {
  name: 'bench',
  summary:
    'load-test an OpenAI-compatible endpoint: TTFT/ITL/TPOT/E2E, throughput, goodput (vLLM bench serve keys)',
  async run(argv) {
    const parsed = beginCommand(argv, { usage: USAGE, description: DESCRIPTION, flags: FLAGS });
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    if (positionals.length > 0) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
    const options = sessionOptions(values);
    const sweep = sweepFrom(values);
    const tokenizerDir = stringFlag(values, 'tokenizer');
    if (tokenizerDir !== undefined) {
      const tokenizer = await Tokenizer.fromDir(tokenizerDir);
      options.tokenCounter = (text) => tokenizer.encode(text, { addSpecialTokens: false }).length;
    }
    const machine = values.json === true;
    const showBar = process.stderr.isTTY === true && !machine;
    const bars: Array<{ stop(): void }> = [];
    let session: Awaited<ReturnType<typeof runBenchSession>>;
    try {
      session = await runBenchSession(options, sweep, (label) => {
        bars.at(-1)?.stop();
        const bar = progressBar(label, showBar);
        bars.push(bar);
        return bar;
      });
    } finally {
      bars.at(-1)?.stop();
    }
    const { model, runs, prompts } = session;
    const out = machine ? process.stderr : process.stdout;
    for (const run of runs) {
      const label = Object.entries(run.label)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      out.write(`${formatResultBlock(run.result, label ? ` ${label} ` : ' Serving Benchmark Result ')}\n`);
    }
    const csv = stringFlag(values, 'csv');
    if (csv) writeFileSync(csv, formatCsv(runs));
    const plot = stringFlag(values, 'plot');
    if (plot) {
      const title = `dhw bench: ${model} at ${options.baseUrl}`;
      const svg =
        runs.length > 1
          ? renderSweepChart(
              runs.map((r) => ({
                label: Object.entries(r.label)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(''),
                result: r.result,
              })),
              title,
            )
          : renderRunChart(runs[0]!.results, runs[0]!.startedAt, title);
      const paths = await writeChartFiles(plot, svg);
      process.stderr.write(`chart → ${paths.svg}, ${paths.png}\n`);
    }
    const json =
      runs.length === 1
        ? jsonOf(model, options, prompts, runs[0]!)
        : { sweep: runs.map((r) => jsonOf(model, options, prompts, r)) };
    const jsonFile = stringFlag(values, 'json-file');
    if (jsonFile) writeFileSync(jsonFile, `${JSON.stringify(json, null, 2)}\n`);
    if (machine) process.stdout.write(`${JSON.stringify(json)}\n`);
    return runs.every((r) => r.result.completed > 0) ? 0 : 1;
  },
};
