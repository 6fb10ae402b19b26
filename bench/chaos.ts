/**
 * `npm run chaos`: the fault suite. Real etcd, nats-server, `dhw worker` (and one `dhw frontend`) processes;
 * each scenario (chaos-scenarios.ts) injects one fault under load and prints one row: what the clients saw,
 * how long recovery took, and whether issue 13's goal was met. Disaggregated prefill/decode kills run
 * bench/chaos-disagg.ts and add its row. Bounded: every wait has a deadline.
 *
 *   npm run chaos -- [--only worker-kill,etcd,nats,frontend,disagg] [--streams 100] [--scratch-streams 100]
 *                    [--ttl 10] [--smoke] [--json]
 *
 * --smoke is the CI subset (chaos.test.ts runs it in `npm test`): mocker only, 20 streams, etcd down 3.5 s
 * with a 2 s TTL, NATS down 2 s, a frontend restart. Exit status 1 when a goal was missed.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { configureLogging } from '../src/util/logger.ts';
import { repoRoot } from '../src/util/paths.ts';
import { markdownTable } from '../src/util/table.ts';
import {
  type ChaosRow,
  etcdOutage,
  frontendLog,
  frontendRestart,
  natsOutage,
  workerKill,
} from './chaos-scenarios.ts';
import { positiveInt } from './lib/args.ts';
import { describeMachine, machineLine } from './lib/machine.ts';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    streams: { type: 'string', default: '100' },
    'scratch-streams': { type: 'string', default: '100' },
    ttl: { type: 'string', default: '10' },
    smoke: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const smoke = values.smoke;
const only = new Set((values.only ?? 'worker-kill,etcd,nats,frontend,disagg').split(','));
const ttl = smoke ? 2 : positiveInt('ttl', values.ttl);
const streams = smoke ? 20 : positiveInt('streams', values.streams);

/** Scenario runs in order: each is a thunk so a failure of one still prints the others. */
const plan: { name: string; run: () => Promise<ChaosRow> }[] = [];
if (only.has('worker-kill')) {
  plan.push({ name: 'worker-kill', run: () => workerKill({ engine: 'mocker', streams, maxTokens: 64 }) });
  if (!smoke) {
    const scratchStreams = positiveInt('scratch-streams', values['scratch-streams']);
    plan.push({
      name: 'worker-kill',
      run: () => workerKill({ engine: 'scratch', streams: scratchStreams, maxTokens: 24 }),
    });
  }
}
if (only.has('etcd')) {
  // Shorter than the TTL (keepalives resume), then longer (the lease is lost and taken again).
  const outages = smoke ? [ttl + 1.5] : [5, 30];
  for (const downS of outages)
    plan.push({ name: 'etcd', run: () => etcdOutage({ downS, ttlS: ttl, concurrency: 4 }) });
}
if (only.has('nats'))
  plan.push({ name: 'nats', run: () => natsOutage({ downS: smoke ? 2 : 5, concurrency: 2 }) });
if (only.has('frontend')) plan.push({ name: 'frontend', run: () => frontendRestart({ concurrency: 4 }) });
if (only.has('disagg') && !smoke) plan.push({ name: 'disagg', run: async () => disaggRow() });

/** bench/chaos-disagg.ts as a child, its JSON report turned into a row. */
function disaggRow(): ChaosRow {
  const result = spawnSync(
    process.execPath,
    ['bin/run-ts.mjs', 'bench/chaos-disagg.ts', '--json', '--duration', '20', '--kill-every', '3'],
    { cwd: repoRoot, encoding: 'utf8', timeout: 240_000 },
  );
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  try {
    const r = JSON.parse(line);
    return {
      scenario: 'prefill/decode kill -9 (disagg)',
      load: `${r.config.concurrency} clients, ${r.config.durationS} s, kill every ${r.config.killEveryS} s`,
      requests: r.requests,
      failed: r.failed,
      failedWithoutWorker: 0,
      recovery: `killed ${r.kills.prefill} prefill + ${r.kills.decode} decode; ${r.migrations} migrated; ${r.leaks.length} leaks`,
      goal: '0 failed, no KV block leaked',
      met: r.failed === 0 && r.leaks.length === 0,
      notes: r.firstErrors ?? [],
    };
  } catch {
    throw new Error(`chaos-disagg printed no report (exit ${result.status}):\n${result.stderr.slice(-2000)}`);
  }
}

async function main(): Promise<void> {
  configureLogging({ level: 'info', write: (line) => frontendLog.push(line) });
  const rows: ChaosRow[] = [];
  for (const step of plan) {
    const started = Date.now();
    try {
      rows.push(await step.run());
    } catch (err) {
      rows.push({
        scenario: step.name,
        load: '',
        requests: 0,
        failed: 0,
        failedWithoutWorker: 0,
        recovery: 'scenario crashed',
        goal: '',
        met: false,
        notes: [(err as Error).message.slice(0, 500)],
      });
    }
    if (!values.json)
      process.stderr.write(`chaos: ${step.name} done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  }
  if (values.json) console.log(JSON.stringify({ smoke, rows }));
  else {
    console.log(`# npm run chaos${smoke ? ' --smoke' : ''}  (${machineLine(describeMachine())})\n`);
    console.log(
      markdownTable(
        ['scenario', 'load', 'requests', 'failed', 'failed w/o worker', 'recovery', 'goal', 'met'].map(
          (header) => ({ header }),
        ),
        rows.map((r) => [
          r.scenario,
          r.load,
          String(r.requests),
          String(r.failed),
          String(r.failedWithoutWorker),
          r.recovery,
          r.goal,
          r.met ? 'yes' : 'NO',
        ]),
      ),
    );
    for (const r of rows) for (const n of r.notes) console.log(`${r.scenario}: ${n}`);
  }
  process.exitCode = rows.every((r) => r.met) ? 0 : 1;
}

await main();
