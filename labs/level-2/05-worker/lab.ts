/**
 * Lab 2.5: the worker alone. A private etcd and NATS, then one `dhw worker` process (the real fortune-llama
 * engine, or `--engine mocker`): what it writes to the registry (`etcdctl get --prefix /dynamo`), its
 * `generate` endpoint called directly over the request plane with no frontend (token ids in, token ids out),
 * its `load` and `kv_snapshot` endpoints, a malformed request, its status port (/live, /health with the
 * canary, /metrics), and a graceful SIGTERM that removes its keys at once. Like starting one app server
 * behind no load balancer and talking to its RPC port and admin port by hand.
 *
 * @expect /Worker [0-9a-f]+ serving fortune-llama on 127\.0\.0\.1:\d+, status/
 * @expect /\/dynamo\/v1\/instances\/dynamo\/backend\/generate\/[0-9a-f]+/
 * @expect /\/dynamo\/v1\/mdc\/dynamo\/backend\/generate\/[0-9a-f]+/
 * @expect /granted with TTL\(10s\), remaining\(\d+s\)/
 * @expect /generate → \d+ tokens, first after [\d.]+ ms/
 * @expect /second call, same prompt: numCachedTokens = [1-9]\d{0,3} /
 * @expect /load → \{"workerId":"[0-9a-f]+","activeDecodeBlocks"/
 * @expect /RemoteError .*invalid_request/
 * @expect /GET \/health → 200 .*"canary":\{"ok":true/
 * @expect /dynamo_component_requests_total\{.*\} \d+/
 * @expect /SIGTERM → exit code 0 after [\d.]+ ms; keys under \/dynamo: 0/
 * @expect Lab complete.
 */
import { performance } from 'node:perf_hooks';
import { loadCardTokenizer, ModelCardFiles } from '../../../src/frontend/index.ts';
import type { ModelCard } from '../../../src/protocols/discovery.ts';
import { DEFAULT_SAMPLING, type EngineOutput, type EngineRequest } from '../../../src/protocols/engine.ts';
import { asRequestId } from '../../../src/protocols/ids.ts';
import type { KvSnapshot } from '../../../src/protocols/router.ts';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../../../src/infra/local-servers.ts';
import { RemoteError, TcpRequestPlane } from '../../../src/runtime/request-plane/index.ts';
import type { Tokenizer } from '../../../src/tokens/index.ts';
import { getLogger } from '../../../src/util/logger.ts';
import { argValue, banner, formatMs, isSmoke, note, runLab, step, visible } from '../../lib/lab-kit.ts';
import { Etcdctl } from '../../lib/etcdctl.ts';
import { spawnWorker, type WorkerProcess, workerCommandLine } from '../../lib/worker-process.ts';

const ENGINE = argValue('engine') ?? 'scratch';
const MAX_TOKENS = isSmoke() ? 6 : 16;
const PROMPT =
  'Once upon a time, in a small village by the sea, there lived an old fisherman who told stories every evening. ' +
  'One night he said: the secret of a happy life is';

function greedy(requestId: string, promptTokenIds: number[], maxTokens: number): EngineRequest {
  return {
    requestId: asRequestId(requestId),
    promptTokenIds,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens, stopTokenIds: [], ignoreEos: true },
  };
}

function showRegistry(etcdctl: Etcdctl, worker: WorkerProcess): ModelCard {
  etcdctl.run(['get', '--prefix', '/dynamo', '--keys-only']);
  etcdctl.run(['get', '--prefix', '/dynamo/v1/instances/', '--print-value-only']);
  const cardJson = etcdctl.run(['get', '--prefix', '/dynamo/v1/mdc/', '--print-value-only'], { quiet: true });
  const card = JSON.parse(cardJson.trim()) as ModelCard;
  note(`$ ${etcdctl.commandLine(['get', '--prefix', '/dynamo/v1/mdc/', '--print-value-only'])}`);
  const { chatTemplate, ...rest } = card;
  note(`  ${JSON.stringify(rest)}`);
  note(
    `  (+ chatTemplate, ${chatTemplate?.length ?? 0} characters: the frontend templates with the worker's own template)`,
  );
  note(
    'The key ends with the instance id, which is the lease id in hex: the keys live exactly as long as the lease.',
  );
  etcdctl.run(['lease', 'timetolive', worker.instanceId, '--keys']);
  return card;
}

async function callGenerate(
  plane: TcpRequestPlane,
  worker: WorkerProcess,
  tokenizer: Tokenizer,
  blockSize: number,
): Promise<void> {
  const ids = tokenizer.encode(PROMPT);
  note(`prompt "${PROMPT.slice(0, 40)}…" → ${ids.length} token ids [${ids.slice(0, 10).join(', ')}, …]`);
  note("(tokenizing is the frontend's job; without a frontend we do it ourselves)");
  note(
    `call(${worker.address}, 'generate', {requestId, promptTokenIds, sampling: greedy, stopping: {maxTokens: ${MAX_TOKENS}}})`,
  );
  const sent = performance.now();
  const outputs: { out: EngineOutput; ms: number }[] = [];
  for await (const out of plane.call(worker.address, 'generate', greedy('lab-2-5-a', ids, MAX_TOKENS))) {
    outputs.push({ out: out as EngineOutput, ms: performance.now() - sent });
  }
  const shown = isSmoke() ? 3 : 6;
  for (const { out, ms } of outputs.slice(0, shown)) {
    note(`  +${ms.toFixed(1)} ms  ${JSON.stringify(out)}  "${visible(tokenizer.decode([out.tokenId]))}"`);
  }
  if (outputs.length > shown) note(`  … ${outputs.length - shown} more`);
  const text = tokenizer.decode(outputs.map((o) => o.out.tokenId));
  note(
    `generate → ${outputs.length} tokens, first after ${outputs[0]!.ms.toFixed(1)} ms, all after ` +
      `${outputs.at(-1)!.ms.toFixed(1)} ms: "${visible(text)}"`,
  );
  let cached = 0;
  for await (const out of plane.call(worker.address, 'generate', greedy('lab-2-5-b', ids, 1))) {
    cached = (out as EngineOutput).numCachedTokens;
  }
  note(
    `second call, same prompt: numCachedTokens = ${cached} of ${ids.length} (the prompt's full ${blockSize}-token ` +
      'blocks came from the prefix cache)',
  );
}

async function otherEndpoints(plane: TcpRequestPlane, worker: WorkerProcess): Promise<void> {
  for await (const load of plane.call(worker.address, 'load', {})) note(`load → ${JSON.stringify(load)}`);
  let events = 0;
  let lastEventId = 0;
  for await (const chunk of plane.call(worker.address, 'kv_snapshot', { workerId: worker.instanceId })) {
    events += (chunk as KvSnapshot).events.length;
    lastEventId = (chunk as KvSnapshot).lastEventId;
  }
  note(
    `kv_snapshot → ${events} stored events as of KV event #${lastEventId} (what a router asks for after a gap)`,
  );
  try {
    for await (const _ of plane.call(worker.address, 'generate', { promptTokenIds: 'not ids' })) {
      // nothing should arrive
    }
    note('malformed request: no error?!');
  } catch (err) {
    if (!(err instanceof RemoteError)) throw err;
    note(`malformed request → RemoteError code=${err.code}: ${err.remoteMessage.slice(0, 120)}`);
  }
}

async function statusPort(worker: WorkerProcess): Promise<void> {
  const base = `http://127.0.0.1:${worker.systemPort}`;
  for (const path of ['/live', '/health']) {
    const res = await fetch(`${base}${path}`);
    note(`GET ${path} → ${res.status} ${(await res.text()).trim()}`);
  }
  const metrics = await (await fetch(`${base}/metrics`)).text();
  note(
    `$ curl -s ${base}/metrics | grep -E '^dynamo_component_(requests_total|output_tokens|kvstats|canary_ok)'`,
  );
  const wanted =
    /^dynamo_component_(requests_total|output_tokens_total|kvstats_active_blocks|kvstats_total_blocks|kv_events_published_total|canary_ok)\b/;
  for (const line of metrics.split('\n').filter((l) => wanted.test(l))) note(`  ${line}`);
}

async function gracefulStop(etcdctl: Etcdctl, worker: WorkerProcess): Promise<void> {
  const start = performance.now();
  const { code } = await worker.stop();
  const keys = etcdctl
    .run(['get', '--prefix', '/dynamo', '--keys-only'], { quiet: true })
    .split('\n')
    .filter(Boolean);
  note(
    `SIGTERM → exit code ${code} after ${(performance.now() - start).toFixed(0)} ms; keys under /dynamo: ${keys.length} ` +
      '(the worker deleted them and revoked its lease before draining: no waiting for a TTL)',
  );
}

async function main(): Promise<void> {
  banner('2.5', 'The worker alone');
  step('Start a private etcd and NATS (free loopback ports, temp dirs)');
  const servers: { etcd?: EtcdServer; nats?: NatsServer } = {};
  const plane = new TcpRequestPlane();
  let worker: WorkerProcess | undefined;
  try {
    [servers.etcd, servers.nats] = await Promise.all([startEtcd(), startNats()]);
    note(`etcd ${servers.etcd.endpoint}, NATS ${servers.nats.url}`);
    const etcdctl = new Etcdctl(servers.etcd.endpoint);

    step(`Start one worker process (engine: ${ENGINE})`);
    const args = [
      '--engine',
      ENGINE,
      '--discovery',
      'etcd',
      '--etcd-endpoints',
      servers.etcd.endpoint,
      '--events',
      'nats',
      '--nats-server',
      servers.nats.url,
      '--canary-interval',
      '2',
      '--log-level',
      'warn',
    ];
    note(`$ ${workerCommandLine(args)}`);
    worker = await spawnWorker(args);
    note(worker.readyLine);
    note(
      `pid ${worker.pid}, serving ${formatMs(worker.startMs)} after spawn (node start, model load, lease, canary)`,
    );

    step('What it registered: etcdctl get --prefix /dynamo');
    const card = showRegistry(etcdctl, worker);

    step('Call its generate endpoint directly over the request plane (no frontend, no router)');
    // The card's tokenizer files travel through NATS's object store: fetch and verify them, as a frontend does.
    const cardFiles = new ModelCardFiles({ natsServer: servers.nats.url, log: getLogger('lab') });
    const tokenizer = await loadCardTokenizer(card, cardFiles).finally(() => cardFiles.close());
    await callGenerate(plane, worker, tokenizer, card.kvCacheBlockSize);

    step('Its other endpoints: load, kv_snapshot, and what a malformed payload gets');
    await otherEndpoints(plane, worker);

    step('Its status port: /live, /health (canary), /metrics');
    await statusPort(worker);

    step('Graceful stop: SIGTERM');
    await gracefulStop(etcdctl, worker);
  } finally {
    await worker?.stop();
    await plane.close();
    await Promise.all([servers.etcd?.stop(), servers.nats?.stop()]);
  }
}

runLab(
  main,
  'etcd/NATS missing? sudo apt-get install -y etcd-server etcd-client nats-server. Then: npm run lab -- 2.5 --smoke',
);
