/**
 * Disaggregated serving under faults, seen by a client: the frontend in-process (KV router, a prefill
 * router, `--migration-limit 3`), `dhw worker --role prefill|decode` mocker child processes, real etcd +
 * NATS. A prefill worker killed with `kill -9` before a request reaches it, and a decode worker killed
 * mid-stream: either way the client's stream must complete with every token exactly once, and no KV block
 * may stay taken on the survivors.
 *
 * The mocker's token at a position depends only on the request id and the position (never on the prompt),
 * so a reference run with the same `x-request-id` and a DIFFERENT prompt gives the expected tokens while
 * the prompt stays uncached on every decode worker: the frontend still decides to prefill remotely.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { asWorkerId } from '../protocols/ids.ts';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../infra/local-servers.ts';
import { sweepStaleShmDirs } from '../transfer/index.ts';
import { configureLogging } from '../util/logger.ts';
import type { FrontendHandle } from './frontend.ts';
import {
  eventually,
  freshNamespace,
  metricValue,
  spawnWorker,
  startTestFrontend,
  type WorkerProcess,
} from './testing/frontend-kit.ts';

const MAX_TOKENS = 200;
const PROMPT_TOKENS = 120; // above the local-prefill limit below: the frontend prefills remotely
const MAX_LOCAL_PREFILL = 32;
const ACTIVE = 'dynamo_component_kvstats_active_blocks';
const HELD = 'dynamo_component_kv_transfer_held_blocks';
const INFLIGHT = 'dynamo_component_inflight_requests';
const PREFILL_FAILURES = 'dynamo_frontend_remote_prefill_failures_total';

/** The frontend's log lines, kept for assertions (warnings are echoed: a failing test shows them). */
const frontendLog: string[] = [];
configureLogging({
  level: 'info',
  write: (line) => {
    frontendLog.push(line);
    if (/^\S+ (WARN|ERROR)/.test(line)) process.stderr.write(`${line}\n`);
  },
});

let etcd: EtcdServer;
let nats: NatsServer;
let namespace: string;
let env: Record<string, string>;
let frontend: FrontendHandle;
const decoders: WorkerProcess[] = [];
const prefills: WorkerProcess[] = [];

function workerArgs(role: 'prefill' | 'decode', extra: string[] = []): string[] {
  return [
    '--role',
    role,
    '--engine',
    'mocker',
    '--speedup-ratio',
    '1',
    '--discovery',
    'etcd',
    '--events',
    'nats',
    '--namespace',
    namespace,
    ...extra,
  ];
}

async function startPrefill(extra: string[] = []): Promise<WorkerProcess> {
  const worker = await spawnWorker(workerArgs('prefill', extra), env);
  prefills.push(worker);
  return worker;
}

before(async () => {
  [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
  namespace = freshNamespace();
  env = { ETCD_ENDPOINTS: etcd.endpoint, NATS_SERVER: nats.url };
  const ttl = ['--lease-ttl', '3'];
  decoders.push(
    ...(await Promise.all([
      spawnWorker(workerArgs('decode', ttl), env),
      spawnWorker(workerArgs('decode', ttl), env),
    ])),
  );
  frontend = await startTestFrontend(
    {
      namespace,
      discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint },
      events: { backend: 'nats', natsServer: nats.url },
      router: { router: 'kv' },
      migrationLimit: 3,
      disagg: { maxLocalPrefillLength: MAX_LOCAL_PREFILL },
    },
    2,
  );
});
after(async () => {
  await frontend?.close();
  for (const w of [...decoders, ...prefills]) w.child.kill('SIGKILL');
  await Promise.all([...decoders, ...prefills].map((w) => w.exited));
  sweepStaleShmDirs('/dev/shm'); // the killed workers' shm listener directories
  await Promise.all([etcd?.stop(), nats?.stop()]);
});

/** A prompt no other request uses (token ids, so the frontend's tokenizer cannot merge them). */
let promptSeed = 0;
function freshPrompt(): number[] {
  promptSeed++;
  return Array.from({ length: PROMPT_TOKENS }, (_, i) => 200 + ((promptSeed * 7919 + i * 31) % 1800));
}

interface StreamResult {
  tokens: string[];
  text: string;
  completionTokens?: number;
  finishReason?: string;
  errors: string[];
}

/** A streaming completion with per-token logprobs; `onTokens` sees the running token count. */
async function streamCompletion(
  requestId: string,
  prompt: number[],
  onTokens?: (n: number) => void,
): Promise<StreamResult> {
  const res = await fetch(`${frontend.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({
      model: 'fortune-llama',
      prompt,
      max_tokens: MAX_TOKENS,
      ignore_eos: true,
      logprobs: 0,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (res.status !== 200) assert.fail(`HTTP ${res.status}: ${await res.text()}`);
  const result: StreamResult = { tokens: [], text: '', errors: [] };
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const bytes of res.body as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(bytes, { stream: true });
    const events = buffered.split('\n\n');
    buffered = events.pop() ?? '';
    for (const event of events) {
      const data = event.replace(/^data: /, '');
      if (data === '[DONE]') continue;
      const chunk = JSON.parse(data);
      if (chunk.error) result.errors.push(chunk.error.message);
      const choice = chunk.choices?.[0];
      if (choice) {
        result.text += choice.text;
        result.tokens.push(...(choice.logprobs?.tokens ?? []));
        if (choice.finish_reason) result.finishReason = choice.finish_reason;
      }
      if (chunk.usage) result.completionTokens = chunk.usage.completion_tokens;
    }
    onTokens?.(result.tokens.length);
  }
  return result;
}

function assertSameStream(got: StreamResult, reference: StreamResult): void {
  assert.deepEqual(got.errors, []);
  assert.equal(got.tokens.length, MAX_TOKENS, 'every requested token arrived once');
  assert.deepEqual(got.tokens, reference.tokens, 'the same tokens in the same order');
  assert.equal(got.text, reference.text);
  assert.equal(got.completionTokens, MAX_TOKENS);
  assert.equal(got.finishReason, 'length');
}

/** Log lines (frontend, in-process) that mention `requestId`. */
const linesOf = (requestId: string) => frontendLog.filter((l) => l.includes(`requestId=${requestId}`));

async function metricOf(worker: WorkerProcess, name: string): Promise<number> {
  return metricValue(await worker.metrics(), name);
}

/** Poll until every live worker in `list` reports `name` = 0 (no KV block left taken). */
async function allZero(list: WorkerProcess[], name: string, what: string): Promise<void> {
  const live = list.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
  const values = new Map<WorkerProcess, number>();
  const poll = async () => {
    for (const w of live) values.set(w, await metricOf(w, name));
  };
  await poll();
  const deadline = Date.now() + 15_000;
  while ([...values.values()].some((v) => v !== 0)) {
    if (Date.now() > deadline) throw new Error(`${what}: ${name} still ${[...values.values()]}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await poll();
  }
}

/** Whether the frontend's prefill router (the model's second pool) has `worker`. */
function inPrefillPool(worker: WorkerProcess): boolean {
  return (
    frontend.models.find('fortune-llama')?.prefillRouter.hasWorker(asWorkerId(worker.instanceId)) === true
  );
}

/** The frontend's decision line for `requestId` (after log line `from`) went remote, to `prefill`. */
function assertPrefilledOn(requestId: string, prefill: WorkerProcess, from = 0): void {
  const lines = frontendLog.slice(from).filter((l) => l.includes(`requestId=${requestId}`));
  assert.ok(
    lines.some(
      (l) =>
        /disaggregation decision/.test(l) &&
        /remote=true/.test(l) &&
        l.includes(`prefillWorker=${prefill.instanceId}`),
    ),
    `${requestId} was sent to prefill worker ${prefill.instanceId}:\n${lines.join('\n')}`,
  );
}

async function frontendMetrics(): Promise<string> {
  return (await fetch(`${frontend.url}/metrics`)).text();
}

test('prefill worker killed -9 before the request: the frontend falls back to local prefill, the stream is whole', async () => {
  const prefill = await startPrefill(['--lease-ttl', '5']);
  await eventually(() => inPrefillPool(prefill), "the prefill worker in the frontend's prefill pool");

  const requestId = 'disagg-prefill-killed';
  const reference = await streamCompletion(requestId, freshPrompt());
  assert.deepEqual(reference.errors, []);
  assert.equal(reference.tokens.length, MAX_TOKENS);
  assertPrefilledOn(requestId, prefill);
  await allZero([prefill], HELD, 'the healthy run released its held blocks');

  // Its lease (5 s) keeps it registered a while: the frontend still routes the prefill to it, the call fails.
  prefill.child.kill('SIGKILL');
  await prefill.exited;
  const mark = frontendLog.length;
  const failuresBefore = metricValue(await frontendMetrics(), PREFILL_FAILURES);
  const survived = await streamCompletion(requestId, freshPrompt());
  assertSameStream(survived, reference);
  const lines = frontendLog.slice(mark).filter((l) => l.includes(requestId));
  assert.ok(
    lines.some((l) => /WARN/.test(l) && /remote prefill failed/.test(l)),
    `a warning names the failed prefill:\n${lines.join('\n')}`,
  );
  assert.equal(
    metricValue(await frontendMetrics(), PREFILL_FAILURES),
    failuresBefore + 1,
    'the failed remote prefill is counted once',
  );
  await allZero(decoders, ACTIVE, "the decode workers' KV blocks freed");
});

test('decode worker killed -9 mid-stream with disaggregation on: migration completes the stream', async () => {
  const prefill = await startPrefill(['--kv-hold-timeout', '3000']);
  await eventually(() => inPrefillPool(prefill), "the prefill worker in the frontend's prefill pool");
  // The prefill worker killed before is gone from the pool once its lease expires (TTL 5 s).
  await eventually(
    () => prefills.filter(inPrefillPool).length === 1,
    'only the live prefill worker in the pool',
    20_000,
  );

  const requestId = 'disagg-decode-killed';
  const reference = await streamCompletion(requestId, freshPrompt());
  assert.deepEqual(reference.errors, []);
  assertPrefilledOn(requestId, prefill);
  const mark = frontendLog.length;

  let victim: WorkerProcess | undefined;
  let killing: Promise<void> | undefined;
  const migrated = await streamCompletion(requestId, freshPrompt(), (n) => {
    if (n < 20 || killing) return;
    killing = (async () => {
      const counts = await Promise.all(decoders.map((w) => metricOf(w, INFLIGHT)));
      victim = decoders[counts.indexOf(1)];
      assert.ok(victim, `one decode worker streams the request (in flight: ${counts})`);
      victim.child.kill('SIGKILL');
    })();
  });
  await killing;
  assert.ok(victim, 'a decode worker was killed mid-stream');
  assert.equal(await victim.exited, null, 'killed by a signal');
  assertSameStream(migrated, reference);
  assertPrefilledOn(requestId, prefill, mark);
  assert.ok(
    linesOf(requestId).some((l) => /migrating/.test(l)),
    `the frontend migrated the request:\n${linesOf(requestId).join('\n')}`,
  );
  await allZero(decoders, ACTIVE, "the surviving decode worker's KV blocks freed");
  await allZero([prefill], HELD, "the prefill worker's holds released or expired");
  await allZero([prefill], ACTIVE, "the prefill worker's KV blocks freed");
});
