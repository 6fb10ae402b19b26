/**
 * A tensor-parallel worker group is ONE instance to the rest of the stack (issue 11, item 7):
 *   - embedded `dhw serve --tensor-parallel-size 2` (rank threads, and rank processes over TCP) answers a
 *     chat completion with fortune-llama's golden greedy text, with one registered instance;
 *   - `dhw worker --tensor-parallel-size 2 --tp-transport tcp` (rank processes) behind `dhw frontend` with
 *     real etcd + NATS: one instance, the golden text;
 *   - `--role prefill|decode` with TP > 1 is refused with the reason;
 *   - `dhw generate --tensor-parallel-size 2` prints what TP = 1 prints; an illegal size and a `dhw tp-rank`
 *     without its rank are usage errors naming the fix.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import OpenAI from 'openai';
import { quietLogs, spawnDhw, spawnWorker, type WorkerProcess } from '../../frontend/testing/frontend-kit.ts';
import { freePort } from '../../infra/free-port.ts';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../../infra/local-servers.ts';
import { defaultModelDir, repoRoot } from '../../util/paths.ts';

quietLogs();

const golden = JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')).samples[0];
const stops: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const stop of stops.reverse()) await stop();
});

async function chat(url: string): Promise<string | null> {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
  const res = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
  });
  return res.choices[0]!.message.content;
}

async function instances(url: string): Promise<unknown[]> {
  return ((await (await fetch(`${url}/health`)).json()) as { instances: unknown[] }).instances;
}

for (const transport of ['threads', 'tcp']) {
  test(`embedded \`dhw serve --tensor-parallel-size 2 --tp-transport ${transport}\`: golden text, one instance`, async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const serve = await spawnDhw(
      ['serve', '--tensor-parallel-size', '2', '--tp-transport', transport, '--threads', '1'].concat([
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
      ]),
      /Serving fortune-llama at .* with 1 worker\(s\)/,
      { timeoutMs: 60_000 },
    );
    stops.push(async () => serve.child.kill('SIGKILL'));
    assert.equal(await chat(url), golden.greedy_text);
    assert.equal((await instances(url)).length, 1);
    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
  });
}

test('`dhw worker --tensor-parallel-size 2 --tp-transport tcp` behind `dhw frontend` (etcd + NATS)', async () => {
  let etcd: EtcdServer;
  let nats: NatsServer;
  [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
  stops.push(() => Promise.all([etcd.stop(), nats.stop()]));
  const env = { ETCD_ENDPOINTS: etcd.endpoint, NATS_SERVER: nats.url };
  const runtime = ['--discovery', 'etcd', '--events', 'nats', '--namespace', `tp${process.pid}`];
  const worker: WorkerProcess = await spawnWorker(
    [
      ...runtime,
      '--tensor-parallel-size',
      '2',
      '--tp-transport',
      'tcp',
      '--threads',
      '1',
      '--system-port',
      '0',
    ],
    env,
  );
  stops.push(() => worker.stop());
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const frontend = await spawnDhw(
    ['frontend', ...runtime, '--host', '127.0.0.1', '--port', String(port)],
    /listening|Frontend|http:\/\//i,
    { env, timeoutMs: 30_000 },
  );
  stops.push(async () => frontend.child.kill('SIGKILL'));
  const deadline = Date.now() + 20_000;
  while ((await instances(url).catch(() => [])).length < 1) {
    if (Date.now() > deadline) throw new Error(`frontend never saw the worker:\n${frontend.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await chat(url), golden.greedy_text);
  assert.equal((await instances(url)).length, 1, 'the TP group registers as one instance');
});

test('`dhw serve --prefill-workers 1 --decode-workers 1 --tensor-parallel-size 2` is refused with the reason', async () => {
  const port = await freePort();
  const serve = await spawnDhw(
    ['serve', '--prefill-workers', '1', '--decode-workers', '1', '--tensor-parallel-size', '2'].concat([
      '--port',
      String(port),
    ]),
    /never printed/,
    { timeoutMs: 60_000 },
  ).catch((err: Error) => err);
  assert.ok(serve instanceof Error);
  assert.match(serve.message, /--role prefill with --tensor-parallel-size 2 is not supported/);
});

function dhw(args: string[]) {
  return spawnSync(process.execPath, [join(repoRoot, 'bin', 'dhw.mjs'), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
}

test('`dhw generate --tensor-parallel-size 2` (threads and tcp) prints what TP = 1 prints', () => {
  const args = ['generate', 'The fortune says', '--max-tokens', '24', '--ignore-eos', '--threads', '1'];
  const one = dhw(args);
  assert.equal(one.status, 0, one.stderr);
  for (const extra of [
    ['--tensor-parallel-size', '2'],
    ['--tensor-parallel-size', '2', '--tp-transport', 'tcp'],
  ]) {
    const tp = dhw([...args, ...extra]);
    assert.equal(tp.status, 0, tp.stderr);
    assert.equal(tp.stdout, one.stdout);
  }
});

test('illegal sizes and a rank without --tp-rank are refused, naming the fix', () => {
  const illegal = dhw(['generate', 'hi', '--tensor-parallel-size', '3']);
  assert.equal(illegal.status, 1);
  assert.match(illegal.stderr, /--tensor-parallel-size 3 does not fit this model: .*Legal sizes: 1, 2, 4, 8/);
  const transport = dhw(['generate', 'hi', '--tensor-parallel-size', '2', '--tp-transport', 'nvlink']);
  assert.equal(transport.status, 2);
  assert.match(transport.stderr, /--tp-transport must be threads or tcp/);
  const rank = dhw(['tp-rank', '--tp-peers', '127.0.0.1:1,127.0.0.1:2']);
  assert.equal(rank.status, 2);
  assert.match(rank.stderr, /--tp-rank is required/);
});
