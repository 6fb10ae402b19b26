/**
 * `npm run bench:loadgen`: how fast can `dhw bench` itself go? It drives a zero-delay streaming endpoint
 * (bench/lib/zero-delay-server.ts, in its own process) in a closed loop at each concurrency, and prints the
 * requests per second it reached and the CPU it spent per request. The CPU figure gives the rate one core
 * could drive even when the box is busy: requests ÷ CPU seconds of this process.
 * Goal (issue: `dhw bench`): one bench process drives ≥ 5,000 req/s.
 *
 * Options: --requests 20000  --concurrency 16,64  --output-len 4  --smoke (CI-sized)  --json
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { computeBenchResult, runBench, syntheticPrompts } from '../src/loadgen/index.ts';
import { fmt, markdownTable } from '../src/util/table.ts';
import { positiveInt, positiveIntList } from './lib/args.ts';
import { describeMachine, machineLine } from './lib/machine.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '16,64' },
    'output-len': { type: 'string', default: '4' },
    smoke: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const requests = values.smoke ? 400 : positiveInt('--requests', values.requests);
const levels = positiveIntList('--concurrency', values.concurrency);
const outputLen = positiveInt('--output-len', values['output-len']);

const server = spawn(process.execPath, ['bin/run-ts.mjs', 'bench/lib/zero-delay-server.ts'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const port = await new Promise<number>((resolve, reject) => {
  let out = '';
  server.stdout!.on('data', (d) => {
    out += d;
    const m = /listening (\d+)/.exec(out);
    if (m) resolve(Number(m[1]));
  });
  server.on('exit', (code) => reject(new Error(`zero-delay server exited (${code})`)));
});

const prompts = syntheticPrompts({
  numPrompts: requests,
  inputLen: 16,
  outputLen,
  prefixLen: 0,
  rangeRatio: 0,
  seed: 0,
});
const rows: Array<Record<string, number>> = [];
try {
  for (const concurrency of levels) {
    const cpu0 = process.cpuUsage();
    const load = loadavg()[0]!;
    const out = await runBench(
      prompts,
      { requestRate: Number.POSITIVE_INFINITY, arrival: 'poisson', concurrency, seed: 0 },
      { baseUrl: `http://127.0.0.1:${port}/v1`, model: 'zero', api: 'completions' },
    );
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const r = computeBenchResult(out.results, out.durationMs);
    rows.push({
      concurrency,
      completed: r.completed,
      failed: r.failed,
      reqPerS: r.request_throughput,
      cpuUsPerRequest: (cpuSeconds / requests) * 1e6,
      reqPerCpuSecond: requests / cpuSeconds,
      load,
    });
  }
} finally {
  server.kill('SIGTERM');
}

if (!values.json) {
  console.log(machineLine(describeMachine()));
  console.log(
    `dhw bench's own ceiling: ${requests} requests per level, ${outputLen} streamed tokens each, zero-delay endpoint in another process\n`,
  );
  console.log(
    markdownTable(
      [
        { header: 'concurrency' },
        { header: 'completed' },
        { header: 'failed' },
        { header: 'req/s (wall)' },
        { header: 'CPU µs / request' },
        { header: 'req per CPU-second' },
        { header: 'load avg' },
      ],
      rows.map((r) => [
        String(r.concurrency),
        String(r.completed),
        String(r.failed),
        fmt(r.reqPerS, 0),
        fmt(r.cpuUsPerRequest, 0),
        fmt(r.reqPerCpuSecond, 0),
        fmt(r.load, 1),
      ]),
    ),
  );
  const best = Math.max(...rows.map((r) => r.reqPerS));
  console.log(
    `\nloadgen: best ${best.toFixed(0)} req/s wall, ${Math.max(...rows.map((r) => r.reqPerCpuSecond)).toFixed(0)} req per CPU-second (goal ≥ 5,000 req/s)`,
  );
}
console.log(JSON.stringify({ requests, outputLen, rows }));
