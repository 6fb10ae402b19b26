/**
 * `npm run bench:frontend-processes`: req/s through a real `dhw frontend --processes P` process tree in front
 * of zero-delay mocker worker processes, for each P, like `wrk` against nginx with 1 and 2 worker
 * processes. The client is this process (a closed loop of C clients, each with its own keep-alive
 * connection sending prebuilt bytes, wrk-like: lib/raw-http-client.ts; 64-token text prompts, max_tokens 8,
 * non-streaming). P values run interleaved in short rounds, so a noisy
 * neighbour hurts all of them alike.
 *
 * Besides req/s it reports the CPU time the frontend process tree spent per request (utime + stime of the
 * primary and its children from /proc, in ms): on a shared machine that number moves far less than req/s,
 * and 1000 / (CPU ms per request) is what one core of frontend can serve.
 *
 * It also reports the CPU per request of every other process of the stack: each mocker worker (from /proc)
 * and the load client (this process, process.cpuUsage), in µs, so one can see which process runs out of
 * core first. `--cpu-prof DIR` starts every `dhw` process with `node --cpu-prof --cpu-prof-dir DIR`
 * (profiles are written when they exit); profile the client with `node --cpu-prof bin/run-ts.mjs ...`.
 *
 * `--router POLICY` (default round-robin, as in every earlier round; `kv-delay` is `dhw frontend`'s default)
 * prices the router's per-request work: block hashes of the prompt, indexer lookups, the decision.
 *
 * `--request-plane tcp` starts the workers without their Unix socket (`--request-plane-unix off`), so the
 * frontend reaches them over loopback TCP; the default `unix` is what `dhw worker` does.
 *
 * `--idle S` first measures the frontend tree's CPU with no requests for S seconds (its fixed cost per second:
 * discovery polling, keepalives, timers), printed as ms of CPU per second.
 *
 * Options: --processes 1,2  --concurrency 32,64  --seconds 5  --rounds 2  --workers 2  --cpu-prof DIR
 *          --request-plane unix|tcp  --router round-robin|kv-delay|...  --idle S  --smoke  --json
 *          --frontend-node-args="FLAGS"  (node/V8 flags for the frontend process only, e.g. heap sizing)
 *          --pin  (CPU affinity with taskset: the frontend tree on CPUs 0..P-1, the workers and this client on
 *                 the others, as one pins nginx's workers apart from the backends; needs more CPUs than P)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fmt, markdownTable } from '../src/util/table.ts';
import { positiveInt, positiveIntList } from './lib/args.ts';
import { type LocalStack, startLocalStack } from './lib/dhw-stack.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { childPids, ownCpuSeconds, treeCpuSeconds } from './lib/proc-cpu.ts';
import { postRequestBytes, RawHttpConnection } from './lib/raw-http-client.ts';

const { values } = parseArgs({
  options: {
    processes: { type: 'string', default: '1,2' },
    concurrency: { type: 'string', default: '32,64' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    workers: { type: 'string', default: '2' },
    'cpu-prof': { type: 'string' },
    'frontend-node-args': { type: 'string', default: '' },
    pin: { type: 'boolean', default: false },
    'request-plane': { type: 'string', default: 'unix' },
    router: { type: 'string', default: 'round-robin' },
    idle: { type: 'string', default: '0' },
    smoke: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const smoke = values.smoke === true;
/** Node/V8 flags for the frontend process only (`--frontend-node-args "--max-semi-space-size=64"`). */
const frontendNodeArgs = (values['frontend-node-args'] ?? '').split(/\s+/).filter((a) => a.length > 0);
const config = {
  processes: positiveIntList('processes', values.processes),
  concurrency: smoke ? [4] : positiveIntList('concurrency', values.concurrency),
  seconds: smoke ? 1 : positiveInt('seconds', values.seconds),
  rounds: smoke ? 1 : positiveInt('rounds', values.rounds),
  workers: positiveInt('workers', values.workers),
  requestPlane: values['request-plane'],
  router: values.router,
};
if (config.requestPlane !== 'unix' && config.requestPlane !== 'tcp') {
  throw new Error(`--request-plane must be unix or tcp, got ${JSON.stringify(config.requestPlane)}`);
}

const PROMPT = 'the quick brown fox jumps over a lazy dog while seven tired cats watch '.repeat(5).trim();
const BODY = JSON.stringify({ model: 'fortune-llama', prompt: PROMPT, max_tokens: 8, ignore_eos: true });

function post(agent: Agent, url: URL): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(BODY);
  });
}

/** The workers' engine steps and output tokens so far, from each worker's /metrics (status port). */
async function engineTotals(stack: LocalStack): Promise<{ steps: number; tokens: number }> {
  let steps = 0;
  let tokens = 0;
  for (const worker of stack.workers) {
    const status = /status (http:\/\/\S+)\/health/.exec(worker.output());
    if (!status) throw new Error('a worker printed no status URL: is its --system-port off?');
    const text = await (await fetch(`${status[1]}/metrics`)).text();
    const value = (name: string) =>
      Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    steps += value('dynamo_component_engine_steps_total');
    tokens += value('dynamo_component_output_tokens_total');
  }
  return { steps, tokens };
}

interface Row {
  processes: number;
  concurrency: number;
  requests: number;
  failed: number;
  seconds: number;
  cpuSeconds: number;
  /** CPU seconds of each worker process during the window, in worker order. */
  workerCpuSeconds: number[];
  /** CPU seconds of this process (the load client) during the window. */
  clientCpuSeconds: number;
  /** Every answered request of the loop (warm-up included), engine steps and output tokens meanwhile. */
  allRequests: number;
  engineSteps: number;
  outputTokens: number;
}

/** CPU seconds of every process of the stack: the frontend tree, then each worker. */
function stackCpuSeconds(stack: LocalStack): { frontend: number; workers: number[] } {
  return {
    frontend: treeCpuSeconds(stack.frontend.child.pid!),
    workers: stack.workers.map((w) => treeCpuSeconds(w.child.pid!)),
  };
}

interface Sender {
  /** One request; its status, 0 = no answer (the connection is reopened). */
  send(): Promise<number>;
  close(): void;
}

/** One closed-loop client with its own keep-alive connection (bench/lib/raw-http-client.ts: wrk-like). */
async function rawClient(url: URL): Promise<Sender> {
  const request = postRequestBytes(url, BODY);
  let connection = await RawHttpConnection.open(url, request);
  return {
    send: async () => {
      try {
        return await connection.send();
      } catch {
        connection.close();
        connection = await RawHttpConnection.open(url, request);
        return 0;
      }
    },
    close: () => connection.close(),
  };
}

/** Sets the CPU affinity of every thread of `pid` (`taskset -a -p -c`). */
function pinProcess(pid: number, cpus: string): void {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  } catch (error) {
    throw new Error(`--pin: taskset failed for pid ${pid} (is util-linux's taskset installed?): ${error}`);
  }
}

/**
 * `--pin`: the frontend tree (primary and children) on CPUs 0..P-1, the workers and this client on the
 * rest, so the frontend never waits for a core behind the processes it serves.
 */
function pinStack(stack: LocalStack, processes: number): void {
  const cpus = availableParallelism();
  if (processes >= cpus)
    throw new Error(`--pin needs more CPUs than frontend processes (${cpus} CPUs, --processes ${processes})`);
  const frontendCpus = `0-${processes - 1}`;
  const restCpus = `${processes}-${cpus - 1}`;
  const primary = stack.frontend.child.pid!;
  for (const pid of [primary, ...childPids(primary)]) pinProcess(pid, frontendCpus);
  for (const worker of stack.workers) pinProcess(worker.child.pid!, restCpus);
  pinProcess(process.pid, restCpus);
}

async function closedLoop(stack: LocalStack, processes: number, concurrency: number): Promise<Row> {
  const url = new URL('/v1/completions', stack.url);
  if (values.pin) pinStack(stack, processes);
  const senders = await Promise.all(Array.from({ length: concurrency }, () => rawClient(url)));
  let requests = 0;
  let failed = 0;
  const warmUntil = performance.now() + 500;
  const until = warmUntil + config.seconds * 1000;
  let cpuStart = stackCpuSeconds(stack);
  let clientStart = 0;
  let started = 0;
  let allRequests = 0;
  const engineStart = await engineTotals(stack);
  const client = async (sender: Sender) => {
    while (performance.now() < until) {
      const status = await sender.send();
      if (status === 200) allRequests++;
      if (performance.now() < warmUntil || started === 0) continue;
      if (status === 200) requests++;
      else failed++;
    }
  };
  const timer = setTimeout(() => {
    cpuStart = stackCpuSeconds(stack);
    clientStart = ownCpuSeconds();
    started = performance.now();
  }, 500);
  await Promise.all(senders.map(client));
  clearTimeout(timer);
  const clientSeconds = ownCpuSeconds() - clientStart;
  const cpuEnd = stackCpuSeconds(stack);
  const seconds = (performance.now() - started) / 1000;
  for (const sender of senders) sender.close();
  const engineEnd = await engineTotals(stack);
  return {
    allRequests,
    engineSteps: engineEnd.steps - engineStart.steps,
    outputTokens: engineEnd.tokens - engineStart.tokens,
    processes,
    concurrency,
    requests,
    failed,
    seconds,
    cpuSeconds: cpuEnd.frontend - cpuStart.frontend,
    workerCpuSeconds: cpuEnd.workers.map((w, i) => w - cpuStart.workers[i]!),
    clientCpuSeconds: clientSeconds,
  };
}

/** Until every frontend process routes (each learns the workers on its own). */
async function warmUp(stack: LocalStack): Promise<void> {
  const agent = new Agent({ keepAlive: false });
  const url = new URL('/v1/completions', stack.url);
  let ok = 0;
  const deadline = Date.now() + 30_000;
  while (ok < 20) {
    if ((await post(agent, url)) === 200) ok++;
    else ok = 0;
    if (Date.now() > deadline) throw new Error('the frontend processes did not all route within 30 s');
  }
}

const idleSeconds = values.idle === '0' ? 0 : positiveInt('idle', values.idle);

/** The frontend tree's CPU while no request is in flight: what it costs per second whatever the load. */
async function printIdleCpu(stack: LocalStack, processes: number): Promise<void> {
  const pid = stack.frontend.child.pid!;
  const before = treeCpuSeconds(pid);
  await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
  const msPerSecond = ((treeCpuSeconds(pid) - before) * 1000) / idleSeconds;
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  console.error(
    `idle: ${processes} frontend process(es), ${fmt(msPerSecond, 1)} ms CPU/s over ${idleSeconds} s (load ${load})`,
  );
}

const sum = (rows: Row[], key: 'allRequests' | 'engineSteps' | 'outputTokens') =>
  rows.reduce((s, r) => s + r[key], 0);

async function main(): Promise<void> {
  const machine = describeMachine();
  const stacks = new Map<number, LocalStack>();
  const rows: Row[] = [];
  try {
    for (const p of config.processes) {
      const stack = await startLocalStack({
        workers: config.workers,
        workerArgs: [
          '--engine',
          'mocker',
          '--speedup-ratio',
          '0',
          '--request-plane-unix',
          config.requestPlane === 'unix' ? 'on' : 'off',
        ],
        frontendArgs: ['--log-level', 'warn', '--router', config.router, '--processes', String(p)],
        nodeArgs: values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : [],
        frontendNodeArgs: frontendNodeArgs,
      });
      stacks.set(p, stack);
      await warmUp(stack);
      if (idleSeconds > 0) await printIdleCpu(stack, p);
    }
    for (let round = 0; round < config.rounds; round++) {
      for (const c of config.concurrency) {
        for (const p of config.processes) rows.push(await closedLoop(stacks.get(p)!, p, c));
      }
    }
  } finally {
    for (const stack of stacks.values()) await stack.close();
  }
  const summary = config.processes.flatMap((p) =>
    config.concurrency.map((c) => {
      const mine = rows.filter((r) => r.processes === p && r.concurrency === c);
      const requests = mine.reduce((s, r) => s + r.requests, 0);
      const seconds = mine.reduce((s, r) => s + r.seconds, 0);
      const cpu = mine.reduce((s, r) => s + r.cpuSeconds, 0);
      const failed = mine.reduce((s, r) => s + r.failed, 0);
      const usPerRequest = (cpuSeconds: number) => Math.round((cpuSeconds * 1e6) / requests);
      const workerUs = Array.from({ length: config.workers }, (_, i) =>
        usPerRequest(mine.reduce((s, r) => s + r.workerCpuSeconds[i]!, 0)),
      );
      return {
        processes: p,
        concurrency: c,
        requests,
        failed,
        reqPerSec: requests / seconds,
        cpuMsPerRequest: (cpu * 1000) / requests,
        frontendCpuUsPerRequest: usPerRequest(cpu),
        workerCpuUsPerRequest: workerUs,
        clientCpuUsPerRequest: usPerRequest(mine.reduce((s, r) => s + r.clientCpuSeconds, 0)),
        engineStepsPerRequest: sum(mine, 'engineSteps') / Math.max(1, sum(mine, 'allRequests')),
        tokensPerStep: sum(mine, 'outputTokens') / Math.max(1, sum(mine, 'engineSteps')),
      };
    }),
  );
  const json = JSON.stringify({
    bench: 'frontend-processes',
    machine,
    config: { ...config, smoke, pin: values.pin === true },
    summary,
  });
  if (values.json) {
    console.log(json);
    return;
  }
  console.log(`# bench:frontend-processes${smoke ? ' (smoke: tiny, numbers mean nothing)' : ''}\n`);
  console.log(
    `machine: ${machineLine(machine)}; load at the end ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`,
  );
  console.log(
    `workload: ${config.workers} zero-delay mocker worker processes (request plane over ${config.requestPlane}), router ${config.router}, ${config.seconds} s closed loops × ${config.rounds} rounds, interleaved${values.pin ? ', pinned (frontend on its own CPUs, workers and client on the rest)' : ''}\n`,
  );
  console.log(
    markdownTable(
      [
        { header: 'processes' },
        { header: 'concurrency' },
        { header: 'requests' },
        { header: 'failed' },
        { header: 'req/s' },
        { header: 'frontend CPU ms/req' },
        { header: 'req per frontend CPU-second' },
      ],
      summary.map((s) => [
        String(s.processes),
        String(s.concurrency),
        String(s.requests),
        String(s.failed),
        fmt(s.reqPerSec, 0),
        fmt(s.cpuMsPerRequest, 3),
        fmt(1000 / s.cpuMsPerRequest, 0),
      ]),
    ),
  );
  console.log('\nCPU µs per request, per process of the stack (the sum is what 2 cores must cover):\n');
  console.log(
    markdownTable(
      [
        { header: 'processes' },
        { header: 'concurrency' },
        { header: 'frontend µs' },
        ...Array.from({ length: config.workers }, (_, i) => ({ header: `worker ${i + 1} µs` })),
        { header: 'client µs' },
        { header: 'stack µs' },
        { header: 'req/s on 2 saturated cores' },
        { header: 'engine steps/req' },
        { header: 'tokens/step' },
      ],
      summary.map((s) => {
        const total =
          s.frontendCpuUsPerRequest +
          s.workerCpuUsPerRequest.reduce((a, b) => a + b, 0) +
          s.clientCpuUsPerRequest;
        return [
          String(s.processes),
          String(s.concurrency),
          String(s.frontendCpuUsPerRequest),
          ...s.workerCpuUsPerRequest.map(String),
          String(s.clientCpuUsPerRequest),
          String(total),
          fmt(2e6 / total, 0),
          fmt(s.engineStepsPerRequest, 2),
          fmt(s.tokensPerStep, 1),
        ];
      }),
    ),
  );
  console.log(`\n${json}`);
}

await main();
