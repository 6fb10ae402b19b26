/**
 * `npm run bench:frontend-floor`: what ANY Node stack can reach on this machine, so bench:frontend's and
 * bench:frontend-processes' numbers have a floor to be read against. The same wrk-like client as those
 * benches (lib/raw-http-client.ts, a closed loop of C keep-alive connections sending the same 64-token
 * completion request) drives three setups of bare processes (lib/floor-servers.ts):
 *
 *   http      one node:http process answering a canned completion JSON
 *   http-hop  that process + a second one behind it, over the request-plane framing (raw: one REQUEST
 *             frame out, 8 DATA frames + FINAL back in one write, every DATA frame parsed)
 *   http-rp   the same two processes talking through our TcpRequestPlane / RequestPlaneServer instead
 *
 * For each: req/s, and CPU µs per request of every process (utime + stime from /proc; the client from
 * process.cpuUsage). 2 cores ÷ the summed µs is the most req/s that setup could give if nothing else ran.
 * Setups run interleaved in rounds, so a noisy neighbour hurts all of them alike.
 *
 * Options: --concurrency 32,64  --seconds 3  --rounds 2  --smoke  --json
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fmt, markdownTable } from '../src/util/table.ts';
import { positiveInt, positiveIntList } from './lib/args.ts';
import { type DhwChild, spawnTs } from './lib/dhw-stack.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { procCpuSeconds } from './lib/proc-cpu.ts';
import { postRequestBytes, RawHttpConnection } from './lib/raw-http-client.ts';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '32,64' },
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    smoke: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const smoke = values.smoke === true;
const config = {
  concurrency: smoke ? [4] : positiveIntList('concurrency', values.concurrency),
  seconds: smoke ? 0.5 : positiveInt('seconds', values.seconds),
  rounds: smoke ? 1 : positiveInt('rounds', values.rounds),
};

const PROMPT = 'the quick brown fox jumps over a lazy dog while seven tired cats watch '.repeat(5).trim();
const BODY = JSON.stringify({ model: 'fortune-llama', prompt: PROMPT, max_tokens: 8, ignore_eos: true });
const SERVERS = 'bench/lib/floor-servers.ts';

type SetupName = 'http' | 'http-hop' | 'http-rp';
interface Setup {
  name: SetupName;
  url: URL;
  /** The processes, front first. */
  processes: DhwChild[];
}

const READY = /listening (\d+)/;

async function startSetup(name: SetupName): Promise<Setup> {
  const processes: DhwChild[] = [];
  if (name !== 'http') {
    const back = await spawnTs([SERVERS, name === 'http-hop' ? 'hop' : 'rp'], READY);
    processes.push(back);
  }
  const backAddress = processes[0] ? [`127.0.0.1:${processes[0].ready[1]}`] : [];
  const front = await spawnTs([SERVERS, name, ...backAddress], READY);
  processes.unshift(front);
  return { name, url: new URL(`http://127.0.0.1:${front.ready[1]}/v1/completions`), processes };
}

/** CPU seconds (user + system) of one process. */
const cpuSeconds = (pid: number): number => procCpuSeconds(`/proc/${pid}/stat`);

const clientCpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

interface Row {
  setup: SetupName;
  concurrency: number;
  requests: number;
  seconds: number;
  /** CPU seconds per process, front first, then the client's. */
  processCpu: number[];
  clientCpu: number;
}

async function closedLoop(setup: Setup, concurrency: number): Promise<Row> {
  const request = postRequestBytes(setup.url, BODY);
  const connections = await Promise.all(
    Array.from({ length: concurrency }, () => RawHttpConnection.open(setup.url, request)),
  );
  for (const connection of connections) await connection.send(); // warm every connection
  const pids = setup.processes.map((p) => p.child.pid!);
  const cpuStart = pids.map(cpuSeconds);
  const clientStart = clientCpuSeconds();
  const start = performance.now();
  const until = start + config.seconds * 1000;
  let requests = 0;
  const client = async (connection: RawHttpConnection) => {
    while (performance.now() < until) {
      const status = await connection.send();
      if (status !== 200) throw new Error(`HTTP ${status} from the ${setup.name} floor server`);
      requests++;
    }
  };
  await Promise.all(connections.map(client));
  const seconds = (performance.now() - start) / 1000;
  const clientCpu = clientCpuSeconds() - clientStart;
  const processCpu = pids.map((pid, i) => cpuSeconds(pid) - cpuStart[i]!);
  for (const connection of connections) connection.close();
  return { setup: setup.name, concurrency, requests, seconds, processCpu, clientCpu };
}

async function main(): Promise<void> {
  const machine = describeMachine();
  const names: SetupName[] = ['http', 'http-hop', 'http-rp'];
  const setups: Setup[] = [];
  const rows: Row[] = [];
  try {
    for (const name of names) setups.push(await startSetup(name));
    for (let round = 0; round < config.rounds; round++) {
      for (const c of config.concurrency) for (const setup of setups) rows.push(await closedLoop(setup, c));
    }
  } finally {
    await Promise.all(setups.flatMap((s) => s.processes.map((p) => p.stop())));
  }
  const summary = names.flatMap((setup) =>
    config.concurrency.map((concurrency) => {
      const mine = rows.filter((r) => r.setup === setup && r.concurrency === concurrency);
      const requests = mine.reduce((s, r) => s + r.requests, 0);
      const us = (cpu: number) => Math.round((cpu * 1e6) / requests);
      const processUs = mine[0]!.processCpu.map((_, i) => us(mine.reduce((s, r) => s + r.processCpu[i]!, 0)));
      const clientUs = us(mine.reduce((s, r) => s + r.clientCpu, 0));
      const stackUs = processUs.reduce((a, b) => a + b, 0) + clientUs;
      return {
        setup,
        concurrency,
        requests,
        reqPerSec: Math.round(requests / mine.reduce((s, r) => s + r.seconds, 0)),
        frontUs: processUs[0]!,
        backUs: processUs[1] ?? 0,
        clientUs,
        stackUs,
        twoCoreReqPerSec: Math.round(2e6 / stackUs),
      };
    }),
  );
  const json = JSON.stringify({ bench: 'frontend-floor', machine, config: { ...config, smoke }, summary });
  if (values.json) {
    console.log(json);
    return;
  }
  console.log(`# bench:frontend-floor${smoke ? ' (smoke: tiny, numbers mean nothing)' : ''}\n`);
  console.log(
    `machine: ${machineLine(machine)}; load at the end ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`,
  );
  console.log(
    `workload: 64-token completion request, canned 8-token answer, ${config.seconds} s closed loops × ${config.rounds} rounds, interleaved\n`,
  );
  console.log(
    markdownTable(
      [
        { header: 'setup', align: 'left' },
        { header: 'concurrency' },
        { header: 'requests' },
        { header: 'req/s' },
        { header: 'front µs/req' },
        { header: 'back µs/req' },
        { header: 'client µs/req' },
        { header: 'stack µs/req' },
        { header: 'req/s on 2 saturated cores' },
      ],
      summary.map((s) => [
        s.setup,
        String(s.concurrency),
        String(s.requests),
        String(s.reqPerSec),
        String(s.frontUs),
        s.setup === 'http' ? '-' : String(s.backUs),
        String(s.clientUs),
        String(s.stackUs),
        fmt(s.twoCoreReqPerSec, 0),
      ]),
    ),
  );
  console.log(`\n${json}`);
}

await main();
