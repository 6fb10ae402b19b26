/**
 * `npm run soak -- --minutes 10`: does the stack stay flat under sustained load? A `dhw frontend` PROCESS
 * in front of `--workers` mocker worker processes (simulated timing, file discovery): first the capacity
 * is measured (a closed loop of `--concurrency` clients for `--probe-seconds`), then requests arrive
 * open-loop at `--load` (default 80 %) of that rate for `--minutes`, and every `--sample-seconds` the
 * frontend's RSS (from /proc) and the window's latency percentiles are sampled. Flat = the last samples
 * within 10 % of the first ones after a one-minute warm-up: memory that keeps growing, or latency that
 * creeps up, is a leak or a queue that never drains. Like a `wrk2` constant-rate run with RSS sampling.
 *
 * Options: --minutes 10  --workers 2  --concurrency 32  --probe-seconds 20  --load 0.8
 *          --sample-seconds 10  --prompt-tokens 64  --max-tokens 16  --smoke (tiny, for a quick check)
 */
import { Agent, request as httpRequest } from 'node:http';
import { parseArgs } from 'node:util';
import { startLocalStack } from './lib/dhw-stack.ts';
import { percentile } from '../src/util/stats.ts';
import { fmt, markdownTable } from '../src/util/table.ts';
import { positiveInt } from './lib/args.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { syntheticPrompt } from './lib/prompts.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    workers: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '32' },
    'probe-seconds': { type: 'string', default: '20' },
    load: { type: 'string', default: '0.8' },
    'sample-seconds': { type: 'string', default: '10' },
    'prompt-tokens': { type: 'string', default: '64' },
    'max-tokens': { type: 'string', default: '16' },
    smoke: { type: 'boolean', default: false },
  },
});
const smoke = values.smoke === true;
const config = {
  minutes: smoke ? 0.5 : Number(values.minutes),
  workers: positiveInt('workers', values.workers),
  concurrency: positiveInt('concurrency', values.concurrency),
  probeSeconds: smoke ? 5 : positiveInt('probe-seconds', values['probe-seconds']),
  load: Number(values.load),
  sampleSeconds: smoke ? 5 : positiveInt('sample-seconds', values['sample-seconds']),
  promptTokens: positiveInt('prompt-tokens', values['prompt-tokens']),
  maxTokens: positiveInt('max-tokens', values['max-tokens']),
};
if (!(config.minutes > 0) || !(config.load > 0 && config.load <= 1)) {
  throw new Error('--minutes must be > 0 and --load in (0, 1]');
}

const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
let sequence = 0;

/** One non-streaming completion with a fresh prompt; resolves with its latency (ms) and status (or error code). */
function oneRequest(url: URL): Promise<{ ms: number; status: number | string }> {
  const started = performance.now();
  const body = JSON.stringify({
    model: 'fortune-llama',
    prompt: syntheticPrompt(config.promptTokens, sequence++, 2048),
    max_tokens: config.maxTokens,
    ignore_eos: true,
  });
  return new Promise((resolve) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ ms: performance.now() - started, status: res.statusCode ?? 0 }));
      },
    );
    req.on('error', (err) =>
      resolve({
        ms: performance.now() - started,
        status: (err as NodeJS.ErrnoException).code ?? err.message,
      }),
    );
    req.end(body);
  });
}

/** Closed loop: `concurrency` clients back to back for `seconds`; completed requests per second. */
async function measureCapacity(url: URL): Promise<number> {
  const until = performance.now() + config.probeSeconds * 1000;
  let done = 0;
  const client = async (): Promise<void> => {
    while (performance.now() < until) {
      if ((await oneRequest(url)).status === 200) done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: config.concurrency }, client));
  return done / ((performance.now() - started) / 1000);
}

interface Sample {
  atS: number;
  rssMiB: number;
  requests: number;
  errors: number;
  p50: number;
  p99: number;
}

/** Open loop at `rate` req/s for the soak; one Sample per window. */
async function soak(url: URL, rate: number, rss: () => number): Promise<Sample[]> {
  const samples: Sample[] = [];
  const started = performance.now();
  const endAt = started + config.minutes * 60_000;
  let window: number[] = [];
  let errors = 0;
  const errorKinds = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();
  const sampler = setInterval(() => {
    const sorted = window.sort((a, b) => a - b);
    samples.push({
      atS: Math.round((performance.now() - started) / 1000),
      rssMiB: rss() / 2 ** 20,
      requests: sorted.length,
      errors,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
    });
    const last = samples.at(-1)!;
    console.log(
      `  t=${last.atS}s rss=${last.rssMiB.toFixed(1)} MiB requests=${last.requests} errors=${last.errors} ` +
        `p50=${last.p50.toFixed(1)} ms p99=${last.p99.toFixed(1)} ms in flight=${inFlight.size}`,
    );
    window = [];
    errors = 0;
  }, config.sampleSeconds * 1000);
  // Arrivals at a constant rate (wrk2-style): the schedule, not the responses, decides when to send.
  const intervalMs = 1000 / rate;
  let next = performance.now();
  while (performance.now() < endAt) {
    const now = performance.now();
    while (next <= now) {
      const p = oneRequest(url).then((r) => {
        if (r.status === 200) window.push(r.ms);
        else {
          errors++;
          errorKinds.set(String(r.status), (errorKinds.get(String(r.status)) ?? 0) + 1);
        }
        inFlight.delete(p);
      });
      inFlight.add(p);
      next += intervalMs;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(20, next - performance.now()))));
  }
  await Promise.all(inFlight);
  clearInterval(sampler);
  if (errorKinds.size > 0) console.log(`errors by status: ${JSON.stringify(Object.fromEntries(errorKinds))}`);
  return samples;
}

/**
 * Relative change from the mean of the first two samples to the mean of the last two, after a warm-up:
 * the first minute (JIT, heap growth to its working size, connection pools), or the first sample of a run
 * too short for that.
 */
function drift(samples: readonly Sample[], key: 'rssMiB' | 'p50' | 'p99'): number {
  const warmUp = Math.ceil(60 / config.sampleSeconds);
  const steady = samples.slice(samples.length > 3 * warmUp ? warmUp : 1);
  const head = steady.slice(0, 2).map((s) => s[key]);
  const tail = steady.slice(-2).map((s) => s[key]);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return avg(tail) / avg(head) - 1;
}

async function main(): Promise<void> {
  const stack = await startLocalStack({
    workers: config.workers,
    workerArgs: ['--engine', 'mocker'],
    frontendArgs: ['--log-level', 'warn'],
  });
  const base = stack.url;
  const url = new URL('/v1/completions', base);
  try {
    console.log(`# soak — ${machineLine(describeMachine())}`);
    console.log(`config: ${JSON.stringify(config)}`);
    const capacity = await measureCapacity(url);
    const rate = capacity * config.load;
    console.log(
      `capacity ${capacity.toFixed(1)} req/s (closed loop, ${config.concurrency} clients); soaking at ${rate.toFixed(1)} req/s`,
    );
    const samples = await soak(url, rate, () => stack.rss());
    console.log(
      markdownTable(
        [
          { header: 't s' },
          { header: 'RSS MiB' },
          { header: 'requests' },
          { header: 'errors' },
          { header: 'p50 ms' },
          { header: 'p99 ms' },
        ],
        samples.map((s) => [
          String(s.atS),
          fmt(s.rssMiB),
          String(s.requests),
          String(s.errors),
          fmt(s.p50),
          fmt(s.p99),
        ]),
      ),
    );
    const errors = samples.reduce((sum, s) => sum + s.errors, 0);
    const rss = drift(samples, 'rssMiB');
    const p50 = drift(samples, 'p50');
    const p99 = drift(samples, 'p99');
    const flat = Math.abs(rss) < 0.1 && Math.abs(p50) < 0.1;
    console.log(
      `drift first→last: RSS ${(rss * 100).toFixed(1)} %, p50 ${(p50 * 100).toFixed(1)} %, p99 ${(p99 * 100).toFixed(1)} %; ` +
        `errors ${errors}; ${flat ? 'FLAT (within 10 %)' : 'NOT FLAT'}`,
    );
    process.exitCode = flat && errors === 0 ? 0 : 1;
  } finally {
    await stack.close();
    agent.destroy();
  }
}

await main();
