/**
 * `npm run bench:frontend`: what does the HTTP frontend add on top of calling a worker directly?
 *
 * 1. Latency, one request at a time, three ways to reach the SAME zero-delay mocker worker (speedupRatio 0:
 *    the engine never sleeps, so every millisecond measured is plumbing):
 *      engine         worker.engine.generate(request)                     in-process call, no network
 *      request plane  TcpRequestPlane.call(worker.address, 'generate')     framed TCP, what the frontend does
 *      HTTP frontend  POST /v1/completions (text prompt, non-streaming)    parse, tokenize, route, call, detokenize
 *    Frontend overhead = HTTP p50 − request-plane p50 (goal ≤ 1 ms). The three paths run interleaved in
 *    rounds, so a noisy neighbour hurts all of them alike.
 * 2. Throughput through the frontend with `--workers` zero-delay mocker workers: a closed loop of C clients
 *    at each concurrency level, each with its own keep-alive connection sending prebuilt request bytes
 *    (lib/raw-http-client.ts, wrk-like: node:http's client cost as much CPU per request as a third of the
 *    frontend's); req/s, CPU per request and latency percentiles.
 *
 * Everything runs in this process (client, frontend, workers; memory discovery and events, TCP request
 * plane), like `wrk` on the same host as nginx: the client's own HTTP work is counted in the HTTP numbers.
 * Logging is at `warn` (per-request info lines would measure the terminal). Tests never assert timings.
 *
 * Options: --requests 2000  --latency-requests N (default: --requests)  --workers 2  --concurrency 1,8,32
 *          --prompt-tokens 64  --max-tokens 8  --smoke (tiny, for CI)  --json (print only the JSON line)
 */
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { type FrontendHandle, loadCardTokenizer, startFrontend } from '../src/frontend/index.ts';
import type { InferenceEngine } from '../src/protocols/engine.ts';
import { TcpRequestPlane } from '../src/runtime/request-plane/index.ts';
import { configureLogging } from '../src/util/logger.ts';
import { defaultModelDir } from '../src/util/paths.ts';
import { Worker } from '../src/worker/index.ts';
import { positiveInt, positiveIntList } from './lib/args.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { benchRequest } from './lib/prompts.ts';
import {
  jsonReport,
  type LatencyRow,
  type PathName,
  printReport,
  type ThroughputRow,
} from './lib/frontend-report.ts';
import { postRequestBytes, RawHttpConnection } from './lib/raw-http-client.ts';
import { summarize } from '../src/util/stats.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    'latency-requests': { type: 'string' },
    workers: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '1,8,32' },
    'prompt-tokens': { type: 'string', default: '64' },
    'max-tokens': { type: 'string', default: '8' },
    smoke: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

const smoke = values.smoke === true;
const config = {
  requests: smoke ? 60 : positiveInt('requests', values.requests),
  latencyRequests: smoke
    ? 60
    : positiveInt('latency-requests', values['latency-requests'] ?? values.requests),
  workers: positiveInt('workers', values.workers),
  concurrency: positiveIntList('concurrency', values.concurrency),
  promptTokens: smoke ? 16 : positiveInt('prompt-tokens', values['prompt-tokens']),
  maxTokens: smoke ? 2 : positiveInt('max-tokens', values['max-tokens']),
};
const ROUND_SIZE = 50;

/** Counts the workers' engine steps and KV events over one measurement. */
function engineCounters(workers: Worker[]): () => { steps: number; seqs: number; kvEvents: number } {
  let steps = 0;
  let seqs = 0;
  const unsubscribe = workers.map((w) =>
    w.engine.onStep((event) => {
      steps++;
      seqs += event.numSeqs;
    }),
  );
  const eventIds = () => workers.reduce((sum, w) => sum + w.engine.kv.events.lastEventId, 0);
  const firstEventIds = eventIds();
  return () => {
    for (const stop of unsubscribe) stop();
    return { steps, seqs, kvEvents: eventIds() - firstEventIds };
  };
}

/** Plain words until the prompt has at least `tokens` tokens, so the frontend's tokenizer does real work. */
function textPrompt(tokens: number, encode: (text: string) => number[]): { text: string; ids: number[] } {
  const words = 'the quick brown fox jumps over a lazy dog while seven tired cats watch'.split(' ');
  let text = words[0]!;
  for (let i = 1; encode(text).length < tokens; i++) text += ` ${words[i % words.length]}`;
  return { text, ids: encode(text) };
}

let sequence = 0;
const nextId = (prefix: string) => `${prefix}-${++sequence}`;

async function drain(stream: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of stream) n++;
  return n;
}

/** POST a JSON body over a keep-alive agent and read the whole reply; rejects on a non-200 status. */
function postJson(agent: Agent, url: URL, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve()
            : reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8')}`)),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const completionBody = (prompt: string) =>
  JSON.stringify({ prompt, max_tokens: config.maxTokens, ignore_eos: true, temperature: 0 });

interface Callers {
  engine: () => Promise<void>;
  plane: () => Promise<void>;
  http: () => Promise<void>;
}

function makeCallers(
  engine: InferenceEngine,
  plane: TcpRequestPlane,
  address: string,
  frontend: FrontendHandle,
  agent: Agent,
  prompt: string,
  promptIds: number[],
): Callers {
  const url = new URL('/v1/completions', frontend.url);
  const body = completionBody(prompt);
  return {
    engine: async () => {
      await drain(engine.generate(benchRequest(nextId('e'), promptIds, config.maxTokens)));
    },
    plane: async () => {
      const request = benchRequest(nextId('p'), promptIds, config.maxTokens);
      await drain(plane.call(address, 'generate', request, { requestId: request.requestId }));
    },
    http: () => postJson(agent, url, body),
  };
}

async function timeOne(call: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await call();
  return performance.now() - start;
}

/** Each path `requests` times, one at a time, interleaved in rounds of ROUND_SIZE after a warm-up. */
async function measureLatency(callers: Callers): Promise<LatencyRow[]> {
  const paths: [PathName, () => Promise<void>][] = [
    ['engine', callers.engine],
    ['request plane', callers.plane],
    ['HTTP frontend', callers.http],
  ];
  const samples = new Map<PathName, number[]>(paths.map(([name]) => [name, []]));
  for (const [, call] of paths) for (let i = 0; i < Math.min(200, config.latencyRequests); i++) await call();
  for (let done = 0; done < config.latencyRequests; done += ROUND_SIZE) {
    const size = Math.min(ROUND_SIZE, config.latencyRequests - done);
    for (const [name, call] of paths) {
      for (let i = 0; i < size; i++) samples.get(name)!.push(await timeOne(call));
    }
  }
  return paths.map(([path]) => ({ path, summary: summarize(samples.get(path)!) }));
}

/** A closed loop: `concurrency` clients, each sending its next request when the last one finished. */
async function measureThroughput(
  url: URL,
  body: string,
  concurrency: number,
  workers: Worker[],
): Promise<ThroughputRow> {
  const total = Math.max(config.requests, concurrency * 4);
  const latencies: number[] = [];
  const request = postRequestBytes(url, body);
  const connections = await Promise.all(
    Array.from({ length: concurrency }, () => RawHttpConnection.open(url, request)),
  );
  const send = async (connection: RawHttpConnection) => {
    const status = await connection.send();
    if (status !== 200) throw new Error(`HTTP ${status} from the frontend`);
  };
  for (const connection of connections) await send(connection); // warm every connection
  let issued = 0;
  const client = async (connection: RawHttpConnection) => {
    while (issued < total) {
      issued++;
      latencies.push(await timeOne(() => send(connection)));
    }
  };
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const counted = engineCounters(workers);
  await Promise.all(connections.map(client));
  const cpu = process.cpuUsage(cpuStart);
  const engine = counted();
  for (const connection of connections) connection.close();
  const seconds = (performance.now() - start) / 1000;
  return {
    concurrency,
    requests: total,
    reqPerSec: total / seconds,
    cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / total,
    stepsPerRequest: engine.steps / total,
    seqsPerStep: engine.seqs / Math.max(1, engine.steps),
    kvEventsPerRequest: engine.kvEvents / total,
    summary: summarize(latencies),
  };
}

async function waitForInstances(frontend: FrontendHandle, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (frontend.models.instances().length < count) {
    if (Date.now() > deadline) throw new Error(`the frontend saw ${count} workers within 10 s: none`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function startMockerWorker(): Promise<Worker> {
  return Worker.start({
    engine: { kind: 'mocker', modelDir: defaultModelDir, options: { speedupRatio: 0 } },
    discovery: { backend: 'memory' },
    events: { backend: 'memory' },
    systemPort: null,
    canaryIntervalMs: 0,
  });
}

async function main(): Promise<void> {
  configureLogging({ level: 'warn' });
  const machine = describeMachine();
  const workers: Worker[] = [];
  let frontend: FrontendHandle | undefined;
  const plane = new TcpRequestPlane();
  const agent = new Agent({ keepAlive: true, maxSockets: Math.max(...config.concurrency) });
  try {
    workers.push(await startMockerWorker());
    frontend = await startFrontend({
      discovery: { backend: 'memory' },
      events: { backend: 'memory' },
      router: { router: 'round-robin', decisionLog: 'off' },
      host: '127.0.0.1',
      port: 0,
    });
    await waitForInstances(frontend, 1);
    const worker = workers[0]!;
    const tokenizer = await loadCardTokenizer(worker.modelCard);
    const { text: prompt, ids: promptIds } = textPrompt(config.promptTokens, (t) => tokenizer.encode(t));
    const callers = makeCallers(worker.engine, plane, worker.address, frontend, agent, prompt, promptIds);
    if (!values.json) {
      console.log(`# bench:frontend${smoke ? ' (smoke: tiny, numbers mean nothing)' : ''}\n`);
      console.log(`machine: ${machineLine(machine)}`);
      console.log(
        `workload: ${promptIds.length}-token text prompt, max_tokens ${config.maxTokens}, ` +
          `${config.requests} requests per path / level, mocker speedupRatio 0\n`,
      );
    }
    const latency = await measureLatency(callers);

    while (workers.length < config.workers) workers.push(await startMockerWorker());
    await waitForInstances(frontend, config.workers);
    const throughput: ThroughputRow[] = [];
    const url = new URL('/v1/completions', frontend.url);
    const body = completionBody(prompt);
    for (const c of config.concurrency) throughput.push(await measureThroughput(url, body, c, workers));

    if (values.json) console.log(jsonReport(config, smoke, latency, throughput, machine));
    else {
      printReport(config, latency, throughput);
      console.log(`\n${jsonReport(config, smoke, latency, throughput, machine)}`);
    }
  } finally {
    agent.destroy();
    await frontend?.close();
    await plane.close();
    await Promise.all(workers.map((w) => w.stop({ drainMs: 0 })));
  }
}

await main();
