/**
 * Chaos for disaggregated serving: a steady streaming load through the frontend while prefill and decode
 * workers are killed with `kill -9` at random and replaced, then a leak check once the load stops.
 * Like Jepsen's nemesis or Chaos Monkey: the invariant is not speed but "no request lost, no stream broken,
 * no KV block left taken".
 *
 *   npm run chaos:disagg -- [--prefill-workers 2] [--decode-workers 2] [--concurrency 4] [--duration 30]
 *                           [--kill-every 3] [--max-tokens 64] [--prompt-tokens 120] [--seed 1] [--smoke] [--json]
 *
 * Real etcd + nats-server (started here on free ports), the frontend in this process (KV router, prefill
 * router, --migration-limit 3, --max-local-prefill-length 32 so every fresh prompt is prefilled remotely),
 * mocker workers as `dhw worker --role prefill|decode` child processes (lease TTL 3 s, hold timeout 2 s).
 * Every request uses a fresh prompt. At least one decode worker stays alive (the frontend answers 503
 * when none is, which is not a fault of the machinery under test).
 *
 * Exit status 1 when a request failed or came back incomplete, or when a live worker still holds or uses KV
 * blocks after the load. The figures printed (requests, kills, fallbacks, migrations) are for reading,
 * not for asserting: they depend on the machine's speed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type FrontendHandle, startFrontend } from '../src/frontend/index.ts';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../src/infra/local-servers.ts';
import { configureLogging } from '../src/util/logger.ts';
import { repoRoot } from '../src/util/paths.ts';
import { markdownTable } from '../src/util/table.ts';
import { positiveInt } from './lib/args.ts';
import { sumMetric } from './lib/worker-metrics.ts';

const DHW = join(repoRoot, 'bin', 'dhw.mjs');
const READY = /Worker ([0-9a-f]+) serving \S+ on (\S+?), status http:\/\/[^:]+:(\d+)\/health/;
const HOLD_TIMEOUT_MS = 2000;

const { values } = parseArgs({
  options: {
    'prefill-workers': { type: 'string', default: '2' },
    'decode-workers': { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '4' },
    duration: { type: 'string', default: '30' },
    'kill-every': { type: 'string', default: '3' },
    'max-tokens': { type: 'string', default: '64' },
    'prompt-tokens': { type: 'string', default: '120' },
    seed: { type: 'string', default: '1' },
    smoke: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const smoke = values.smoke;
const config = {
  prefillWorkers: smoke ? 1 : positiveInt('prefill-workers', values['prefill-workers']),
  decodeWorkers: smoke ? 2 : positiveInt('decode-workers', values['decode-workers']),
  concurrency: smoke ? 2 : positiveInt('concurrency', values.concurrency),
  durationS: smoke ? 5 : positiveInt('duration', values.duration),
  killEveryS: smoke ? 2 : positiveInt('kill-every', values['kill-every']),
  maxTokens: smoke ? 32 : positiveInt('max-tokens', values['max-tokens']),
  promptTokens: positiveInt('prompt-tokens', values['prompt-tokens']),
  seed: positiveInt('seed', values.seed),
};
if (config.decodeWorkers < 2)
  console.error('note: with one decode worker, killing it is skipped (none would serve)');

/** A small deterministic PRNG (mulberry32): the same --seed kills the same roles in the same order. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(config.seed);

interface ChaosWorker {
  role: 'prefill' | 'decode';
  child: ChildProcess;
  instanceId: string;
  systemPort: number;
  exited: Promise<unknown>;
}

let etcd: EtcdServer | undefined;
let nats: NatsServer | undefined;
let frontend: FrontendHandle | undefined;
const namespace = `chaos${process.pid}`;
const live: ChaosWorker[] = [];
const everyChild = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of everyChild) c.kill('SIGKILL');
});

async function spawnWorker(role: 'prefill' | 'decode'): Promise<ChaosWorker> {
  const args = ['worker', '--role', role, '--engine', 'mocker', '--namespace', namespace];
  args.push('--discovery', 'etcd', '--etcd-endpoints', etcd!.endpoint, '--events', 'nats');
  args.push('--nats-server', nats!.url, '--lease-ttl', '3', '--canary-interval', '0', '--system-port', '0');
  args.push('--log-level', 'warn', '--kv-hold-timeout', String(HOLD_TIMEOUT_MS));
  const child = spawn(process.execPath, [DHW, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  everyChild.add(child);
  const exited = new Promise((resolve) => child.on('exit', resolve)).finally(() => everyChild.delete(child));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const m = READY.exec(out);
    if (m) return { role, child, instanceId: m[1]!, systemPort: Number(m[3]), exited };
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`${role} worker did not start:\n${out}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function metric(worker: ChaosWorker, name: string): Promise<number> {
  return sumMetric(`http://127.0.0.1:${worker.systemPort}/metrics`, name);
}

interface Outcome {
  ok: boolean;
  tokens: number;
  error?: string;
}

let sequence = 0;
function freshPrompt(): number[] {
  sequence++;
  return Array.from({ length: config.promptTokens }, (_, i) => 200 + ((sequence * 7919 + i * 31) % 1800));
}

/** One streaming completion; ok only if every requested token came, with no error event. */
async function oneRequest(url: string): Promise<Outcome> {
  try {
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': `chaos-${sequence + 1}` },
      body: JSON.stringify({
        model: 'fortune-llama',
        prompt: freshPrompt(),
        max_tokens: config.maxTokens,
        ignore_eos: true,
        logprobs: 0,
        stream: true,
      }),
    });
    if (res.status !== 200) return { ok: false, tokens: 0, error: `HTTP ${res.status}: ${await res.text()}` };
    let tokens = 0;
    let buffered = '';
    let finish: string | undefined;
    const errors: string[] = [];
    const decoder = new TextDecoder();
    for await (const bytes of res.body as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(bytes, { stream: true });
      const events = buffered.split('\n\n');
      buffered = events.pop() ?? '';
      for (const event of events) {
        const data = event.replace(/^data: /, '');
        if (data === '[DONE]') continue;
        const chunk = JSON.parse(data);
        if (chunk.error) errors.push(chunk.error.message);
        const choice = chunk.choices?.[0];
        tokens += choice?.logprobs?.tokens?.length ?? 0;
        finish = choice?.finish_reason ?? finish;
      }
    }
    const ok = errors.length === 0 && tokens === config.maxTokens && finish === 'length';
    return { ok, tokens, error: ok ? undefined : errors.join('; ') || `${tokens} tokens, finish ${finish}` };
  } catch (err) {
    return { ok: false, tokens: 0, error: (err as Error).message };
  }
}

async function main(): Promise<void> {
  const warnings: string[] = [];
  configureLogging({
    level: 'info',
    write: (line) => /WARN|ERROR|migrating/.test(line) && warnings.push(line),
  });
  [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
  const roles = [
    ...Array<'prefill'>(config.prefillWorkers).fill('prefill'),
    ...Array<'decode'>(config.decodeWorkers).fill('decode'),
  ];
  live.push(...(await Promise.all(roles.map(spawnWorker))));
  frontend = await startFrontend({
    namespace,
    host: '127.0.0.1',
    port: 0,
    discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint },
    events: { backend: 'nats', natsServer: nats.url },
    router: { router: 'kv' },
    migrationLimit: 3,
    disagg: { maxLocalPrefillLength: 32 },
  });
  const model = () => frontend?.models.find('fortune-llama');
  for (const deadline = Date.now() + 30_000; ; ) {
    const m = model();
    if (m && m.router.size === config.decodeWorkers && m.prefillRouter.size === config.prefillWorkers) break;
    if (Date.now() > deadline) throw new Error('the frontend did not see every worker within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  const outcomes: Outcome[] = [];
  const kills = { prefill: 0, decode: 0 };
  const stopAt = Date.now() + config.durationS * 1000;
  const client = async () => {
    while (Date.now() < stopAt) outcomes.push(await oneRequest(frontend!.url));
  };
  const nemesis = async () => {
    while (Date.now() + config.killEveryS * 1000 < stopAt) {
      await new Promise((resolve) => setTimeout(resolve, config.killEveryS * 1000));
      const decoders = live.filter((w) => w.role === 'decode');
      const candidates = decoders.length > 1 ? live : live.filter((w) => w.role === 'prefill');
      if (candidates.length === 0) continue;
      const victim = candidates[Math.floor(random() * candidates.length)]!;
      live.splice(live.indexOf(victim), 1);
      victim.child.kill('SIGKILL');
      kills[victim.role]++;
      await victim.exited;
      live.push(await spawnWorker(victim.role));
    }
  };
  await Promise.all([nemesis(), ...Array.from({ length: config.concurrency }, client)]);

  // Leak check: once idle, every live worker's blocks are free and nothing is held past the hold timeout.
  const leaks: string[] = [];
  const leakDeadline = Date.now() + HOLD_TIMEOUT_MS + 10_000;
  for (const worker of live) {
    for (const name of [
      'dynamo_component_kvstats_active_blocks',
      'dynamo_component_kv_transfer_held_blocks',
    ]) {
      let value = await metric(worker, name);
      while (value !== 0 && Date.now() < leakDeadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        value = await metric(worker, name);
      }
      if (value !== 0) leaks.push(`${worker.role} ${worker.instanceId}: ${name} = ${value}`);
    }
  }
  let fallbacks = 0;
  for (const w of live) fallbacks += await metric(w, 'dynamo_component_kv_transfer_fallbacks_total');
  const failed = outcomes.filter((o) => !o.ok);
  const report = {
    config,
    requests: outcomes.length,
    completed: outcomes.length - failed.length,
    failed: failed.length,
    kills,
    remotePrefillFailures: warnings.filter((l) => l.includes('remote prefill failed')).length,
    migrations: warnings.filter((l) => /migrating/.test(l)).length,
    decodeFallbacksOnSurvivors: fallbacks,
    leaks,
    firstErrors: failed.slice(0, 5).map((o) => o.error),
  };
  if (values.json) console.log(JSON.stringify(report));
  else {
    console.log(
      `# chaos:disagg (${config.prefillWorkers} prefill, ${config.decodeWorkers} decode, ${config.concurrency} clients, ${config.durationS} s, kill every ${config.killEveryS} s)\n`,
    );
    console.log(
      markdownTable(
        [
          'requests',
          'completed',
          'failed',
          'killed prefill',
          'killed decode',
          'prefill failures',
          'migrations',
          'decode fallbacks (survivors)',
          'leaks',
        ].map((header) => ({ header })),
        [
          [
            report.requests,
            report.completed,
            report.failed,
            kills.prefill,
            kills.decode,
            report.remotePrefillFailures,
            report.migrations,
            report.decodeFallbacksOnSurvivors,
            leaks.length,
          ].map(String),
        ],
      ),
    );
    for (const e of report.firstErrors) console.log(`failed: ${e}`);
    for (const l of leaks) console.log(`leak: ${l}`);
  }
  process.exitCode = failed.length > 0 || leaks.length > 0 || outcomes.length === 0 ? 1 : 0;
}

try {
  await main();
} finally {
  await frontend?.close();
  for (const w of live) w.child.kill('SIGKILL');
  await Promise.all(live.map((w) => w.exited));
  await Promise.all([etcd?.stop(), nats?.stop()]);
}
