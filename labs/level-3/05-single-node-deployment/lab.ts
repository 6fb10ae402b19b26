/**
 * Lab 3.5: a full single-node deployment with the operator's tool, `dhw`, the way you would run it on one
 * box: `dhw infra up` (etcd + NATS, detached), `dhw serve --discovery etcd --events nats` (a frontend and
 * worker processes), then look at it as an operator: `dhw ls`, `dhw doctor`, `dhw events tail`, `/metrics`.
 * Two predictions from the timing model, then measured at the client through the OpenAI API: TTFT with a
 * cached vs an uncached prefix, and decode throughput with 1 vs 4 concurrent streams. `dhw infra down` at
 * the end. Like `docker compose up -d`, `systemctl start app@{1,2}`, then the on-call checklist.
 *
 * @expect /\$ dhw infra up --dir \S+ --no-install/
 * @expect /export ETCD_ENDPOINTS=http:\/\/127\.0\.0\.1:\d+ NATS_SERVER=nats:\/\/127\.0\.0\.1:\d+/
 * @expect /Serving fortune-llama at http:\/\/127\.0\.0\.1:\d+\/v1 with 2 worker\(s\), router kv/
 * @expect /\$ dhw ls/
 * @expect /^ +[0-9a-f]{6,16} +dynamo\/backend\/generate/
 * @expect /\d+ failed, \d+ warning\(s\), \d+ passed/
 * @expect /cached prefix: TTFT -?\d+\.\d+ ms faster measured, \d+\.\d+ ms predicted/
 * @expect /4 streams vs 1: decode [\d.]+× the tokens\/s \(predicted 4\.0×\)/
 * @expect /dhw events tail saw [1-9]\d* kv-events/
 * @expect /dynamo_frontend_time_to_first_token_seconds_count\{[^}]*\} [1-9]/
 * @expect /Stopped etcd \(pid \d+\), nats-server \(pid \d+\)/
 * @expect Lab complete.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mean, median } from '../../../src/util/stats.ts';
import { type DhwProcess, spawnDhw } from '../../lib/dhw-process.ts';
import { argValue, banner, isSmoke, note, printTable, runLab, step } from '../../lib/lab-kit.ts';
import { shorten } from '../../lib/log-capture.ts';
import {
  measurePrefix,
  measureStreams,
  predictPrefix,
  predictStreams,
  type StreamsMeasurement,
} from './load.ts';
import { infraUpArgs, metricLines, parseInfraEnv, planInfra, runDhw } from './operator.ts';

const smoke = isSmoke();
const WORKERS = Number(argValue('workers') ?? 2);
/** 56 blocks of 16: the bundled model's context is 1,024 tokens, so a long prompt still leaves room to answer. */
const PROMPT_TOKENS = Number(argValue('prompt-tokens') ?? 896);
const PAIRS = smoke ? 3 : 10;
const STREAM_TOKENS = smoke ? 48 : 128;
const STREAM_PROMPT = 64;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function serveArgs(env: { etcd: string; nats: string }): string[] {
  return [
    ...['serve', '--discovery', 'etcd', '--events', 'nats'],
    ...['--etcd-endpoints', env.etcd, '--nats-server', env.nats],
    // speedup 1: every engine step sleeps what Dynamo's GPU-fitted polynomials say it would take.
    ...['--engine', 'mocker', '--speedup-ratio', '1', '--workers', String(WORKERS), '--router', 'kv'],
    ...['--host', '127.0.0.1', '--port', '0', '--router-decision-log', 'info'],
  ];
}

async function prefixStep(url: string): Promise<void> {
  const predicted = predictPrefix(PROMPT_TOKENS);
  note(
    `predict: a cold ${PROMPT_TOKENS}-token prompt prefills all of it: 4.21e-7·${PROMPT_TOKENS}² + 0.0152·${PROMPT_TOKENS} + 16.5 = ` +
      `${predicted.coldMs.toFixed(1)} ms;`,
  );
  note(
    `         the repeat finds ${PROMPT_TOKENS - 16} tokens cached and computes the last block: 16 tokens = ${predicted.warmMs.toFixed(1)} ms;`,
  );
  note(
    `         so the cached prefix saves ${(predicted.coldMs - predicted.warmMs).toFixed(1)} ms of TTFT, whatever the stack adds on top.`,
  );
  const { cold, warm } = await measurePrefix(url, PROMPT_TOKENS, PAIRS);
  const row = (label: string, runs: typeof cold, predictedMs: number) => [
    label,
    runs.length,
    Number(median(runs.map((r) => r.ttftMs)).toFixed(1)),
    Number(predictedMs.toFixed(1)),
    Number((median(runs.map((r) => r.ttftMs)) - predictedMs).toFixed(1)),
    Number(mean(runs.map((r) => r.cachedTokens)).toFixed(0)),
  ];
  printTable(
    ['prompt', 'requests', 'TTFT p50 ms', 'model ms', 'stack overhead ms', 'cached_tokens'],
    [row('cold (new prefix)', cold, predicted.coldMs), row('warm (repeat)', warm, predicted.warmMs)],
  );
  const saved = median(cold.map((r) => r.ttftMs)) - median(warm.map((r) => r.ttftMs));
  note(
    `cached prefix: TTFT ${saved.toFixed(1)} ms faster measured, ${(predicted.coldMs - predicted.warmMs).toFixed(1)} ms predicted`,
  );
}

function streamsRow(m: StreamsMeasurement, predictedTps: number): (string | number)[] {
  return [
    m.streams,
    m.results.reduce((s, r) => s + r.tokens, 0),
    Number(m.ttftP50Ms.toFixed(1)),
    Number(m.itlP50Ms.toFixed(2)),
    Number(m.itlP90Ms.toFixed(2)),
    Math.round(m.decodeTokensPerSecond),
    Math.round(predictedTps),
  ];
}

async function streamsStep(url: string): Promise<void> {
  // KV in use while 4 streams run, over both workers' capacity (16,384 blocks of 16 tokens each).
  const kvUsage = (4 * (STREAM_PROMPT + STREAM_TOKENS)) / (WORKERS * 16_384 * 16);
  const one = predictStreams(1, kvUsage);
  const four = predictStreams(4, kvUsage);
  note(
    `predict: a decode step costs max(1, −25.74·u² + 54.01·u + 5.74) ms with KV usage u ≈ ${kvUsage.toFixed(4)}: ` +
      `${one.itlMs.toFixed(2)} ms for 1 sequence or for 4;`,
  );
  note(
    `         so ITL stays ${one.itlMs.toFixed(1)} ms and 4 streams decode ${Math.round(four.tokensPerSecond)} tokens/s, 4× the ${Math.round(one.tokensPerSecond)} of one.`,
  );
  const single = await measureStreams(url, 1, STREAM_PROMPT, STREAM_TOKENS, 700);
  const quad = await measureStreams(url, 4, STREAM_PROMPT, STREAM_TOKENS, 800);
  printTable(
    ['streams', 'tokens', 'TTFT p50 ms', 'ITL p50 ms', 'ITL p90 ms', 'decode tokens/s', 'predicted'],
    [streamsRow(single, one.tokensPerSecond), streamsRow(quad, four.tokensPerSecond)],
  );
  note(
    `4 streams vs 1: decode ${(quad.decodeTokensPerSecond / single.decodeTokensPerSecond).toFixed(2)}× the tokens/s (predicted ${(four.tokensPerSecond / one.tokensPerSecond).toFixed(1)}×)`,
  );
}

async function main(): Promise<void> {
  banner('3.5', 'A full single-node deployment with dhw: infra up, serve, ls, doctor, events, metrics');
  const dir = mkdtempSync(join(tmpdir(), 'dhw-lab-3-5-'));
  const plan = await planInfra(dir);
  const running: DhwProcess[] = [];
  let infraStarted = false;
  try {
    step(
      'dhw infra up: etcd and NATS (JetStream), detached, data under one folder (free ports, not 2379/4222)',
    );
    const up = runDhw(infraUpArgs(plan));
    if (up.status !== 0) throw new Error('dhw infra up failed (see its output above)');
    infraStarted = true;
    const env = parseInfraEnv(up.out);

    step(`dhw serve --discovery etcd --events nats: a frontend and ${WORKERS} worker processes`);
    const args = serveArgs(env);
    note(`$ dhw ${args.join(' ')} &`);
    const serve = await spawnDhw(args, /Serving \S+ at (http:\/\/\S+?)\/v1 with/);
    running.push(serve);
    const url = serve.ready?.[1] as string;
    note(serve.grep(/^Serving /)[0] ?? '');
    for (const line of serve.grep(/\] Worker [0-9a-f]+ serving/)) note(line);

    step('What an operator checks first: `dhw ls` (the registry), then `dhw doctor` (the checklist)');
    runDhw(['ls', '--etcd-endpoints', env.etcd]);
    const doctor = runDhw(
      [
        ...['doctor', '--etcd-endpoints', env.etcd, '--nats-server', env.nats],
        ...['--nats-monitor-port', String(plan.natsMonitorPort)],
      ],
      { quiet: true },
    );
    note(
      `$ dhw doctor --etcd-endpoints ${env.etcd} --nats-server ${env.nats} --nats-monitor-port ${plan.natsMonitorPort}`,
    );
    // The full report is ~30 lines; the section headers, anything not passing, and the verdict tell the story.
    for (const line of doctor.out.split('\n').filter((l) => /^\d\. |^\s+[✘!⚠]|failed,/.test(l)))
      note(`  ${line}`);

    step('Watch the KV events the workers publish, in the background: dhw events tail');
    // --from-start: the durable log from its first event, so nothing is missed while the tail starts up.
    const tailArgs = ['events', 'tail', '--nats-server', env.nats, '--topic', 'kv-events', '--from-start'];
    note(`$ dhw ${tailArgs.join(' ')} &`);
    const tail = await spawnDhw(tailArgs, null);
    running.push(tail);

    step(`Predict, then measure: TTFT of a ${PROMPT_TOKENS}-token prompt, cold and with its prefix cached`);
    await prefixStep(url);
    const decision = serve.grep(/\[router\] route requestId=lab-3-5-warm-0 /)[0];
    if (decision)
      note(`the router sent the repeat back to the prefix: ${shorten(decision.replace(/^\S+\s+/, ''), 400)}`);

    step(`Predict, then measure: 1 stream vs 4 concurrent streams of ${STREAM_TOKENS} tokens`);
    await streamsStep(url);

    step('What the deployment saw: the KV events, and the frontend’s /metrics');
    const kvEvents = () =>
      tail
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'));
    // The tail is a separate process (a second or two to start): give it time to catch up.
    const deadline = Date.now() + 8000;
    while (kvEvents().length === 0 && Date.now() < deadline) await sleep(100);
    const events = kvEvents();
    const stored = events.filter((l) => l.includes('"stored"')).length;
    note(`dhw events tail saw ${events.length} kv-events (${stored} with "stored" blocks)`);
    if (events[0])
      note(`first: ${shorten(events[0].replace(/"tokenIds":\[[\d,]+\]/g, '"tokenIds":[…]'), 260)}`);
    note(`$ curl -s ${url}/metrics | grep -E 'requests_total|_count|kv_hit_rate'`);
    for (const line of await metricLines(url, /^dynamo_frontend_(requests_total|\w+_count|kv_hit_rate)/))
      note(`  ${line}`);
  } finally {
    await Promise.all(running.map((p) => p.stop()));
    if (infraStarted) {
      step('dhw infra down: stop etcd and NATS, delete their data');
      runDhw(['infra', 'down', '--dir', dir, '--purge']);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

runLab(
  main,
  'etcd/NATS missing? sudo apt-get install -y etcd-server etcd-client nats-server. Then: npm run lab -- 3.5 --smoke',
);
