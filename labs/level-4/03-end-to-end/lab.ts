/**
 * Lab 4.3: end to end, every part a separate process, the way it would run across machines: a real etcd
 * and NATS, `dhw frontend`, a prefill worker and a decode worker (`dhw worker --role prefill|decode`). We
 * look at it the way an operator would: `dhw ls`, the keys in etcd (instances, model cards, the transfer
 * agents' metadata), `dhw events tail`, each worker's /metrics (`dynamo_component_kv_transfer_*`) and the
 * frontend's decision lines. Then `kill -9` the prefill worker mid-traffic and watch requests fall back to
 * local prefill on the decode worker, and the deployment become aggregated once the lease runs out. Like a
 * failover drill on a primary/replica pair: the point is that nothing is lost, and that you can see why.
 *
 * @expect /\$ dhw ls/
 * @expect /\/dynamo\/v1\/nixl_metadata\/dynamo\/[0-9a-f]+/
 * @expect /disaggregation decision .*remote=true/
 * @expect /disaggregation decision .*reason=short_uncached_prompt/
 * @expect /long request: HTTP 200, cached_tokens \d+ of \d+/
 * @expect /dynamo_component_kv_transfer_total\{[^}]*outcome="ok"[^}]*\} [1-9]/
 * @expect /dynamo_component_kv_transfer_bytes_total/
 * @expect /\$ kill -9 \d+ +# the prefill worker/
 * @expect /after kill -9: (\d+) of \1 requests completed/
 * @expect /dynamo_frontend_disagg_decisions_total\{[^}]*reason="no_prefill_workers"[^}]*\} [1-9]/
 * @expect Lab complete.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../../../src/infra/local-servers.ts';
import { repoRoot } from '../../../src/util/paths.ts';
import { argValue, banner, isSmoke, note, runLab, step } from '../../lib/lab-kit.ts';
import { type DhwProcess, spawnDhw } from '../../lib/dhw-process.ts';
import { Etcdctl } from '../../lib/etcdctl.ts';
import { shorten } from '../../lib/log-capture.ts';
import { distinctPrompt, type StreamTiming, timedCompletion } from '../../lib/stream-timing.ts';
import { spawnWorker, type WorkerProcess, workerCommandLine } from '../../lib/worker-process.ts';

const smoke = isSmoke();
const LOCAL_MAX = Number(argValue('max-local-prefill-length') ?? 128);
const LONG = smoke ? 256 : 640;
const SHORT = 24;
const LEASE_TTL_S = 3;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function runtimeArgs(etcd: EtcdServer, nats: NatsServer): string[] {
  return [
    '--discovery',
    'etcd',
    '--etcd-endpoints',
    etcd.endpoint,
    '--events',
    'nats',
    '--nats-server',
    nats.url,
  ];
}

/** The lines of a worker's /metrics that match `pattern` (comments dropped). */
async function metricLines(worker: WorkerProcess, pattern: RegExp): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${worker.systemPort}/metrics`)).text();
  return text.split('\n').filter((l) => !l.startsWith('#') && pattern.test(l));
}

async function showMetrics(label: string, worker: WorkerProcess, pattern: RegExp): Promise<void> {
  note(
    `$ curl -s localhost:${worker.systemPort}/metrics | grep -E '${pattern.source}' | grep -v _bucket   # ${label}`,
  );
  const lines = (await metricLines(worker, pattern)).filter((l) => !l.includes('_bucket{'));
  // The four identity labels (namespace, component, endpoint, worker id) are the same on every line: elided.
  const identity =
    /dynamo_namespace="[^"]*",dynamo_component="[^"]*",dynamo_endpoint="[^"]*",worker_id="[^"]*",?/;
  for (const line of lines.length > 0 ? lines : ['(no such series yet)'])
    note(`  ${line.replace(identity, '…')}`);
}

/** `dhw ls`: what discovery holds, as the operator's command prints it. */
function dhwLs(etcd: EtcdServer): void {
  const args = ['ls', '--etcd-endpoints', etcd.endpoint];
  note(`$ dhw ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [join(repoRoot, 'bin', 'dhw.mjs'), ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  for (const line of `${result.stdout}${result.stderr}`.trimEnd().split('\n')) note(`  ${line}`);
}

function request(id: string, seed: number, tokens: number): Promise<StreamTiming> {
  return timedCompletion(frontendUrl, { requestId: id, prompt: distinctPrompt(seed, tokens), maxTokens: 8 });
}

let frontendUrl = '';

async function main(): Promise<void> {
  banner('4.3', 'End to end: frontend, prefill worker and decode worker as separate processes');
  let etcd: EtcdServer | undefined;
  let nats: NatsServer | undefined;
  const workers: WorkerProcess[] = [];
  const others: DhwProcess[] = [];
  try {
    step('Start etcd and NATS, then three processes: a prefill worker, a decode worker, a frontend');
    [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
    const common = [
      ...runtimeArgs(etcd, nats),
      ...[
        '--engine',
        'scratch',
        '--threads',
        '1',
        '--lease-ttl',
        String(LEASE_TTL_S),
        '--canary-interval',
        '0',
      ],
    ];
    const prefillArgs = ['--role', 'prefill', ...common, '--log-level', 'info'];
    const decodeArgs = ['--role', 'decode', ...common, '--log-level', 'info'];
    note(`$ ${workerCommandLine(prefillArgs)} &`);
    note(`$ ${workerCommandLine(decodeArgs)} &`);
    const [prefill, decode] = await Promise.all([spawnWorker(prefillArgs), spawnWorker(decodeArgs)]);
    workers.push(prefill, decode);
    note(`prefill worker ${prefill.instanceId} (pid ${prefill.pid}, metrics :${prefill.systemPort})`);
    note(`decode worker  ${decode.instanceId} (pid ${decode.pid}, metrics :${decode.systemPort})`);
    const frontendArgs = [
      'frontend',
      ...runtimeArgs(etcd, nats),
      ...['--host', '127.0.0.1', '--port', '0', '--max-local-prefill-length', String(LOCAL_MAX)],
      ...['--log-level', 'info'],
    ];
    note(`$ dhw ${frontendArgs.join(' ')} &`);
    const frontend = await spawnDhw(frontendArgs, /Frontend at (http:\/\/\S+?)\/v1/);
    others.push(frontend);
    frontendUrl = frontend.ready?.[1] as string;
    note(`frontend at ${frontendUrl}`);

    step('What discovery holds: `dhw ls`, then the raw keys (instances, model cards, transfer agents)');
    dhwLs(etcd);
    const etcdctl = new Etcdctl(etcd.endpoint);
    etcdctl.run(['get', '--prefix', '--keys-only', '/dynamo/']);
    const agentKey = `/dynamo/v1/nixl_metadata/dynamo/${prefill.instanceId}`;
    const agent = etcdctl.run(['get', '--print-value-only', agentKey], { quiet: true }).trim();
    note(`$ etcdctl get --print-value-only ${agentKey}`);
    note(`  ${shorten(agent || '(missing: the prefill worker did not publish its transfer agent)', 360)}`);
    note(
      "the agent name is the worker's instance id; the key lives under its lease (ttl " +
        LEASE_TTL_S +
        ' s here)',
    );

    step('Watch the KV event streams of both components in the background');
    const tails = await Promise.all(
      ['backend', 'prefill'].map((component) => {
        const args = [
          'events',
          'tail',
          '--nats-server',
          nats!.url,
          '--component',
          component,
          '--topic',
          'kv-events',
          '--from-start',
        ];
        note(`$ dhw ${args.join(' ')} &`);
        return spawnDhw(args, null);
      }),
    );
    others.push(...tails);

    step(`A long prompt (${LONG} tokens > ${LOCAL_MAX}: remote prefill) and a short one (${SHORT}: local)`);
    // The frontend may need a moment to see the prefill worker's card: retry until a remote decision shows.
    let long: StreamTiming | undefined;
    for (let i = 0; i < 20; i++) {
      long = await request(`lab-4-3-long-${i}`, 10 + i, LONG);
      if (frontend.grep(/disaggregation decision .*remote=true/).length > 0) break;
      await sleep(250);
    }
    const short = await request('lab-4-3-short', 99, SHORT);
    for (const line of [
      ...frontend.grep(/disaggregation decision .*remote=true/).slice(-1),
      ...frontend.grep(/disaggregation decision .*reason=short_uncached_prompt/).slice(-1),
    ])
      note(shorten(line.replace(/^\S+\s+/, ''), 330));
    note(
      `long request: HTTP ${long?.status}, cached_tokens ${long?.cachedTokens} of ${long?.promptTokens} (pulled over the link, not recomputed), TTFT ${long?.ttftMs.toFixed(0)} ms`,
    );
    note(
      `short request: HTTP ${short.status}, cached_tokens ${short.cachedTokens}, TTFT ${short.ttftMs.toFixed(0)} ms`,
    );
    // The tails are separate processes (a second or two to start); wait for their first events.
    const kvEvents = (tail: DhwProcess) =>
      tail
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'));
    const waitUntil = Date.now() + 8000;
    while (tails.some((t) => kvEvents(t).length === 0) && Date.now() < waitUntil) await sleep(100);
    for (const [component, tail] of [
      ['backend', tails[0]],
      ['prefill', tails[1]],
    ] as const) {
      const events = kvEvents(tail!);
      note(
        `events tail --component ${component}: ${events.length} kv-events so far, first: ${shorten((events[0] ?? '(none)').replace(/"tokenIds":\[[\d,]+\]/g, '"tokenIds":[…]'), 220)}`,
      );
    }
    note(
      'both workers publish `stored` for the prompt blocks they now cache: the prefill worker computed them,',
    );
    note(
      'the decode worker received them by transfer; a KV-aware router can find the prefix on either side.',
    );
    step("Each worker's transfer metrics: the decode side pulled, the prefill side served and released");
    await showMetrics('decode worker', decode, /dynamo_component_kv_transfer_/);
    await showMetrics('prefill worker', prefill, /dynamo_component_kv_transfer_/);

    step('Failover drill: kill -9 the prefill worker while long requests keep coming');
    note(`$ kill -9 ${prefill.pid}   # the prefill worker`);
    prefill.kill9();
    const during = await Promise.all(
      Array.from({ length: 3 }, (_, i) => request(`lab-4-3-after-kill-${i}`, 200 + i, LONG)),
    );
    const ok = during.filter((r) => r.status === 200 && r.tokens > 0).length;
    note(
      `after kill -9: ${ok} of ${during.length} requests completed (prefilled locally on the decode worker)`,
    );
    for (const line of frontend.grep(/remote prefill|quarantin|fall/i).slice(-2))
      note(shorten(line.replace(/^\S+\s+/, ''), 300));
    await showMetrics(
      'decode worker',
      decode,
      /dynamo_component_kv_transfer_fallbacks_total|outcome="error"/,
    );
    note(
      `frontend: ${
        (await (await fetch(`${frontendUrl}/metrics`)).text())
          .split('\n')
          .filter((l) => /^dynamo_frontend_(remote_prefill_failures|disagg_decisions)_total/.test(l))
          .join('; ') || '(no disaggregation counters)'
      }`,
    );

    step(
      `After the lease TTL (${LEASE_TTL_S} s) etcd deletes the prefill worker's keys: the model is served aggregated`,
    );
    const deadline = Date.now() + (LEASE_TTL_S + 10) * 1000;
    while (
      etcdctl
        .run(['get', '--prefix', '--keys-only', '/dynamo/v1/nixl_metadata/'], { quiet: true })
        .includes(prefill.instanceId) &&
      Date.now() < deadline
    )
      await sleep(250);
    etcdctl.run(['get', '--prefix', '--keys-only', '/dynamo/v1/nixl_metadata/']);
    // The frontend learns of the deletion through its own etcd watch: wait until /health lists no prefill worker.
    const seenBy = Date.now() + 15_000;
    while (Date.now() < seenBy) {
      const health = (await (await fetch(`${frontendUrl}/health`)).json()) as {
        prefill_instances?: unknown[];
      };
      if (!health.prefill_instances?.length) break;
      await sleep(100);
    }
    const after = await request('lab-4-3-aggregated', 300, LONG);
    note(`long request now: HTTP ${after.status}, cached_tokens ${after.cachedTokens}`);
    dhwLs(etcd);
    const decisions = (await (await fetch(`${frontendUrl}/metrics`)).text())
      .split('\n')
      .filter((l) => l.startsWith('dynamo_frontend_disagg_decisions_total'));
    note(`$ curl -s ${frontendUrl}/metrics | grep dynamo_frontend_disagg_decisions_total`);
    for (const line of decisions) note(`  ${line}`);
    note('no_prefill_workers: the decode worker prefilled it itself, as an aggregated worker would');
  } finally {
    await Promise.all(others.map((p) => p.stop()));
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all([etcd?.stop(), nats?.stop()]);
  }
}

runLab(
  main,
  'etcd/NATS missing? sudo apt-get install -y etcd-server etcd-client nats-server. Then: npm run lab -- 4.3 --smoke',
);
