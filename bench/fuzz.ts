/**
 * `npm run fuzz`: the full fuzz run (the CI-sized one is `src/frontend/fuzz.test.ts`). Against a
 * `dhw frontend` PROCESS and a zero-delay mocker worker: `--per-endpoint` structure-aware malformed requests
 * for each of /v1/chat/completions and /v1/completions (every field × every wrong type or range first,
 * then seeded random mixes and broken bodies) and `--raw` raw-socket cases per endpoint (bad request lines,
 * broken chunking, oversized headers, conflicting lengths, bad UTF-8). Pass = every answer a 4xx (a raw
 * case may also be closed unanswered), the process alive and serving afterwards, and its RSS not growing:
 * after a warm-up pass of the same mix, RSS is sampled every tenth of an endpoint's requests, and the peak
 * of the last quarter of samples must be less than 10 % above the peak of the first. Exit 1 otherwise.
 *
 * Options: --per-endpoint 10000  --raw 1000  --concurrency 16  --seed 1  --max-body-bytes 65536
 */
import { parseArgs } from 'node:util';
import { CHAT, COMPLETIONS, fieldGrid, httpCases, rawCases } from './lib/fuzz-cases.ts';
import { type FuzzReport, peakGrowth, runCases, sendHttp, sendRaw, startFuzzStack } from './lib/fuzz-run.ts';
import { markdownTable } from '../src/util/table.ts';
import { positiveInt } from './lib/args.ts';
import { describeMachine, machineLine } from './lib/machine.ts';

const { values } = parseArgs({
  options: {
    'per-endpoint': { type: 'string', default: '10000' },
    raw: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '16' },
    seed: { type: 'string', default: '1' },
    'max-body-bytes': { type: 'string', default: '65536' },
  },
});
const config = {
  perEndpoint: positiveInt('per-endpoint', values['per-endpoint']),
  raw: positiveInt('raw', values.raw),
  concurrency: positiveInt('concurrency', values.concurrency),
  seed: positiveInt('seed', values.seed),
  maxBodyBytes: positiveInt('max-body-bytes', values['max-body-bytes']),
};

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
const statuses = (r: FuzzReport): string =>
  [...r.statuses].map(([status, n]) => `${status}: ${n}`).join(', ');

async function main(): Promise<void> {
  console.log(`# fuzz — ${machineLine(describeMachine())}`);
  console.log(`config: ${JSON.stringify(config)}`);
  const stack = await startFuzzStack({ maxBodyBytes: config.maxBodyBytes });
  const rows: string[][] = [];
  let failed = 0;
  try {
    // Warm-up: the same mix, smaller, so the heap reaches its working size before memory is compared.
    const warm = Math.min(2000, config.perEndpoint);
    for (const path of [CHAT, COMPLETIONS] as const) {
      await runCases(
        httpCases(path, warm, config.seed + 1000, config.maxBodyBytes),
        (c) => sendHttp(stack.url, c),
        config.concurrency,
      );
    }
    const samples: number[] = [stack.rss()];
    const sample = {
      every: Math.max(1, Math.floor(config.perEndpoint / 10)),
      call: () => samples.push(stack.rss()),
    };
    for (const path of [CHAT, COMPLETIONS] as const) {
      const started = performance.now();
      const http = await runCases(
        httpCases(path, config.perEndpoint, config.seed, config.maxBodyBytes),
        (c) => sendHttp(stack.url, c),
        config.concurrency,
        sample,
      );
      const raw = await runCases(
        rawCases(path, config.raw, config.seed),
        (c) => sendRaw(stack.port, c, 5000),
        8,
      );
      const seconds = (performance.now() - started) / 1000;
      failed += http.failed + raw.failed;
      rows.push([
        path,
        String(fieldGrid(path).length),
        String(http.total),
        statuses(http),
        String(raw.total),
        statuses(raw),
        String(http.failed + raw.failed),
        seconds.toFixed(1),
      ]);
      for (const line of [...http.failures, ...raw.failures].slice(0, 10)) console.log(`  FAIL ${line}`);
    }
    samples.push(stack.rss());
    const alive = stack.frontend.child.exitCode === null;
    const res = await fetch(`${stack.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fortune-llama', prompt: 'Hello', max_tokens: 2 }),
    });
    console.log(
      markdownTable(
        [
          { header: 'endpoint', align: 'left' },
          { header: 'grid cases' },
          { header: 'requests' },
          { header: 'statuses', align: 'left' },
          { header: 'raw cases' },
          { header: 'raw answers', align: 'left' },
          { header: 'not 4xx' },
          { header: 's' },
        ],
        rows,
      ),
    );
    const growth = peakGrowth(samples);
    console.log(`frontend RSS samples (MiB, every ${sample.every} requests): ${samples.map(mib).join(' ')}`);
    console.log(
      `RSS growth (peak of the last quarter over the peak of the first): ${(growth * 100).toFixed(1)} %; ` +
        `alive: ${alive}; a valid request afterwards: ${res.status}`,
    );
    const pass = failed === 0 && alive && res.status === 200 && growth < 0.1;
    console.log(pass ? 'PASS' : 'FAIL');
    process.exitCode = pass ? 0 : 1;
  } finally {
    await stack.close();
  }
}

await main();
