/**
 * `npm run bench:serve-processes`: req/s through `dhw serve --processes P`, P whole stacks (a frontend and
 * its own embedded zero-delay mocker workers) behind one port, for each P: like `wrk` against N replicas of
 * an all-in-one server behind a load balancer. The same wrk-like client as bench:frontend-processes
 * (lib/raw-http-client.ts: a closed loop of C keep-alive connections sending one prebuilt 64-token
 * completion request, max_tokens 8, non-streaming); P values run interleaved in short rounds.
 *
 * Why beside bench:frontend-processes: there, every request hops client → frontend → worker process and
 * back, and on a 2-vCPU VM a hop to a process on the other, idle vCPU costs several times one on the same
 * vCPU (bench:wakeup), so a second frontend process in front of shared workers doubles the frontend's CPU per
 * request. Here each process answers on its own, one hop (client ↔ stack) per request. The price: each stack
 * routes to its own workers and caches its own prefixes (connections are dealt out in turn, not by prefix).
 *
 * Each stack first takes 3 s of unrecorded load (JIT warm-up). CPU per request: the serve tree (primary and its children) from /proc, the client from process.cpuUsage.
 *
 * `--cpu-prof DIR` starts every serve process with `node --cpu-prof --cpu-prof-dir DIR` (written when they exit).
 *
 * Options: --processes 1,2  --concurrency 64  --seconds 4  --rounds 3  --workers 2  --cpu-prof DIR  --smoke  --json
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fmt, markdownTable } from '../src/util/table.ts';
import { positiveInt, positiveIntList } from './lib/args.ts';
import { type DhwChild, spawnDhw } from './lib/dhw-stack.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { ownCpuSeconds, treeCpuSeconds } from './lib/proc-cpu.ts';
import { postRequestBytes, RawHttpConnection } from './lib/raw-http-client.ts';

const { values } = parseArgs({
  options: {
    processes: { type: 'string', default: '1,2' },
    concurrency: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    workers: { type: 'string', default: '2' },
    smoke: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
  },
});
const smoke = values.smoke === true;
const config = {
  processes: positiveIntList('processes', values.processes),
  concurrency: smoke ? [4] : positiveIntList('concurrency', values.concurrency),
  seconds: smoke ? 1 : positiveInt('seconds', values.seconds),
  rounds: smoke ? 1 : positiveInt('rounds', values.rounds),
  workers: positiveInt('workers', values.workers),
};

const PROMPT = 'the quick brown fox jumps over a lazy dog while seven tired cats watch '.repeat(5).trim();
const BODY = JSON.stringify({ model: 'fortune-llama', prompt: PROMPT, max_tokens: 8, ignore_eos: true });
const WARM_MS = 500;
/** Seconds of unrecorded load per stack at start. */
const WARM_UP_S = 3;

interface Row {
  processes: number;
  concurrency: number;
  requests: number;
  failed: number;
  seconds: number;
  serveCpuSeconds: number;
  clientCpuSeconds: number;
}

/** C closed-loop connections for `seconds` after half a second unmeasured; every answer but a 200 counts as failed. */
async function closedLoop(
  serve: DhwChild,
  url: string,
  processes: number,
  concurrency: number,
  seconds = config.seconds,
): Promise<Row> {
  const target = new URL('/v1/completions', url);
  const request = postRequestBytes(target, BODY);
  const connections = await Promise.all(
    Array.from({ length: concurrency }, () => RawHttpConnection.open(target, request)),
  );
  const warmUntil = performance.now() + WARM_MS;
  const until = warmUntil + seconds * 1000;
  let requests = 0;
  let failed = 0;
  let measuring = false;
  let start = { at: 0, serve: 0, client: 0 };
  const timer = setTimeout(() => {
    measuring = true;
    start = { at: performance.now(), serve: treeCpuSeconds(serve.child.pid!), client: ownCpuSeconds() };
  }, WARM_MS);
  await Promise.all(
    connections.map(async (connection) => {
      while (performance.now() < until) {
        const status = await connection.send().catch(() => 0);
        if (!measuring) continue;
        if (status === 200) requests++;
        else failed++;
        if (status === 0) return; // the connection is gone: a failure, counted once
      }
    }),
  );
  clearTimeout(timer);
  const row: Row = {
    processes,
    concurrency,
    requests,
    failed,
    seconds: (performance.now() - start.at) / 1000,
    serveCpuSeconds: treeCpuSeconds(serve.child.pid!) - start.serve,
    clientCpuSeconds: ownCpuSeconds() - start.client,
  };
  for (const connection of connections) connection.close();
  return row;
}

async function main(): Promise<void> {
  const machine = describeMachine();
  const stacks = new Map<number, { serve: DhwChild; url: string }>();
  const rows: Row[] = [];
  try {
    for (const p of config.processes) {
      const serve = await spawnDhw(
        // biome-ignore format: one command line
        ['serve', '--engine', 'mocker', '--speedup-ratio', '0', '--workers', String(config.workers), '--router', 'round-robin', '--processes', String(p), '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn'],
        /Serving \S+ at (http:\/\/\S+)\/v1/,
        undefined,
        values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : [],
      );
      stacks.set(p, { serve, url: serve.ready[1]! });
      // JIT warm-up of every process of the tree before anything is measured (a cold first round ran at half speed).
      await closedLoop(serve, serve.ready[1]!, p, config.concurrency[0]!, smoke ? 0.5 : WARM_UP_S);
    }
    for (let round = 0; round < config.rounds; round++) {
      for (const c of config.concurrency) {
        for (const p of config.processes) {
          const { serve, url } = stacks.get(p)!;
          rows.push(await closedLoop(serve, url, p, c));
        }
      }
    }
  } finally {
    for (const { serve } of stacks.values()) await serve.stop();
  }
  const summary = config.processes.flatMap((p) =>
    config.concurrency.map((c) => {
      const mine = rows.filter((r) => r.processes === p && r.concurrency === c);
      const total = (key: 'requests' | 'failed' | 'seconds' | 'serveCpuSeconds' | 'clientCpuSeconds') =>
        mine.reduce((s, r) => s + r[key], 0);
      const requests = total('requests');
      const us = (seconds: number) => Math.round((seconds * 1e6) / Math.max(1, requests));
      return {
        processes: p,
        concurrency: c,
        requests,
        failed: total('failed'),
        reqPerSec: requests / total('seconds'),
        roundsReqPerSec: mine.map((r) => Math.round(r.requests / r.seconds)),
        serveCpuUsPerRequest: us(total('serveCpuSeconds')),
        clientCpuUsPerRequest: us(total('clientCpuSeconds')),
      };
    }),
  );
  const json = JSON.stringify({ bench: 'serve-processes', machine, config: { ...config, smoke }, summary });
  if (values.json) {
    console.log(json);
    return;
  }
  console.log(`# bench:serve-processes${smoke ? ' (smoke: tiny, numbers mean nothing)' : ''}\n`);
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  console.log(`machine: ${machineLine(machine)}; load at the end ${load}`);
  console.log(
    `workload: dhw serve --processes P, each with ${config.workers} embedded zero-delay mocker workers, router round-robin, ${config.seconds} s closed loops × ${config.rounds} rounds, interleaved\n`,
  );
  console.log(
    markdownTable(
      // biome-ignore format: one header row
      [{ header: 'processes' }, { header: 'concurrency' }, { header: 'requests' }, { header: 'failed' }, { header: 'req/s' }, { header: 'req/s per round' }, { header: 'serve tree µs/req' }, { header: 'client µs/req' }, { header: 'req/s on 2 saturated cores' }],
      summary.map((s) => [
        String(s.processes),
        String(s.concurrency),
        String(s.requests),
        String(s.failed),
        fmt(s.reqPerSec, 0),
        s.roundsReqPerSec.join(' / '),
        String(s.serveCpuUsPerRequest),
        String(s.clientCpuUsPerRequest),
        fmt(2e6 / (s.serveCpuUsPerRequest + s.clientCpuUsPerRequest), 0),
      ]),
    ),
  );
  console.log(`\n${json}`);
}

await main();
