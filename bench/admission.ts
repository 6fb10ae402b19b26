/**
 * `npm run bench:admission`: what a burst larger than the workers sees. A `dhw frontend` PROCESS in front of
 * one mocker worker process; `--burst` requests arrive at once; the table says how many were served, how
 * many refused (429 queue full, 503 busy) and how long each kind waited. Before admission control every
 * request of a burst queued inside the worker (issue 13: 1,000 at once → p99 20.6 s; 100 on a 40-block
 * worker → p99 16.7 s); now the frontend holds at most `--max-queued-requests` and refuses the rest at once.
 *
 * Options: --burst 1000,100  --kv-blocks 16384,40  (pairs: one scenario each)  --max-tokens 32
 *          --max-queued-requests 256
 */
import { request as httpRequest } from 'node:http';
import { parseArgs } from 'node:util';
import { percentile } from '../src/util/stats.ts';
import { fmt, markdownTable } from '../src/util/table.ts';
import { positiveInt } from './lib/args.ts';
import { startLocalStack } from './lib/dhw-stack.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { syntheticPrompt } from './lib/prompts.ts';

const { values } = parseArgs({
  options: {
    burst: { type: 'string', default: '1000,100' },
    'kv-blocks': { type: 'string', default: '16384,40' },
    'max-tokens': { type: 'string', default: '32' },
    'max-queued-requests': { type: 'string', default: '256' },
  },
});
const bursts = (values.burst ?? '').split(',').map((v) => positiveInt('burst', v));
const blocks = (values['kv-blocks'] ?? '').split(',').map((v) => positiveInt('kv-blocks', v));
const maxTokens = positiveInt('max-tokens', values['max-tokens']);
const maxQueued = Number(values['max-queued-requests']);
if (bursts.length !== blocks.length) throw new Error('--burst and --kv-blocks need as many values');

function post(url: string, i: number): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const body = JSON.stringify({
    prompt: syntheticPrompt(40, i, 2048),
    max_tokens: maxTokens,
    ignore_eos: true,
  });
  return new Promise((resolve) => {
    const req = httpRequest(
      `${url}/v1/completions`,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      },
    );
    req.on('error', () => resolve({ status: 0, ms: performance.now() - started }));
    req.end(body);
  });
}

const rows: string[][] = [];
console.log(`# admission — ${machineLine(describeMachine())}`);
for (let k = 0; k < bursts.length; k++) {
  const stack = await startLocalStack({
    workers: 1,
    workerArgs: ['--engine', 'mocker', '--num-kv-blocks', String(blocks[k])],
    frontendArgs: [
      '--router',
      'round-robin',
      '--max-queued-requests',
      String(maxQueued),
      '--log-level',
      'error',
    ],
  });
  try {
    const replies = await Promise.all(Array.from({ length: bursts[k] }, (_, i) => post(stack.url, i)));
    const byStatus = new Map<number, number[]>();
    for (const r of replies) byStatus.set(r.status, [...(byStatus.get(r.status) ?? []), r.ms]);
    for (const [status, ms] of [...byStatus].sort((a, b) => a[0] - b[0])) {
      rows.push([
        String(bursts[k]),
        String(blocks[k]),
        String(status),
        String(ms.length),
        fmt(percentile(ms, 50)),
        fmt(percentile(ms, 99)),
        fmt(Math.max(...ms)),
      ]);
    }
  } finally {
    await stack.close();
  }
}
console.log(
  markdownTable(
    [
      { header: 'burst' },
      { header: 'KV blocks' },
      { header: 'status' },
      { header: 'requests' },
      { header: 'p50 ms' },
      { header: 'p99 ms' },
      { header: 'max ms' },
    ],
    rows,
  ),
);
