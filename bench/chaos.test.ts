/**
 * The CI-sized fault suite: `bench/chaos.ts --smoke --json` (mocker workers as processes, real etcd and
 * NATS). Checks the invariants, never the figures: a worker kill under 20 streams loses no request and
 * changes no greedy output; an etcd outage longer than the lease TTL fails no request while a worker is
 * registered and leaves every worker registered again; a NATS outage fails no request and the KV router's
 * overlap comes back; a killed frontend serves again with every worker. How FAST the KV view comes back
 * (the 2 s goal) is a figure: `npm run chaos` prints it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { repoRoot } from '../src/util/paths.ts';
import type { ChaosRow } from './chaos-scenarios.ts';

test('chaos --smoke: worker kill, etcd and NATS outages, frontend restart', { timeout: 600_000 }, () => {
  const result = spawnSync(process.execPath, ['bin/run-ts.mjs', 'bench/chaos.ts', '--smoke', '--json'], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 590_000,
  });
  const lines = result.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `--json prints only the JSON line, got:\n${result.stdout}\n${result.stderr}`);
  const { rows } = JSON.parse(lines[0]!) as { rows: ChaosRow[] };
  const row = (prefix: string) => {
    const found = rows.find((r) => r.scenario.startsWith(prefix));
    assert.ok(found, `no ${prefix} row in ${JSON.stringify(rows)}`);
    return found;
  };
  const explain = (r: ChaosRow) => `${r.scenario}: ${r.recovery}; ${r.notes.join('; ')}`;

  const kill = row('worker kill');
  assert.ok(kill.requests > 0 && kill.met, explain(kill));

  const etcd = row('etcd down');
  assert.ok(etcd.requests > 0, explain(etcd));
  assert.equal(etcd.failed - etcd.failedWithoutWorker, 0, explain(etcd));
  assert.ok(etcd.met, explain(etcd));

  const nats = row('NATS down');
  assert.ok(nats.requests > 0, explain(nats));
  assert.equal(nats.failed, 0, explain(nats));
  assert.ok(nats.resyncMs !== undefined, `the KV overlap never came back: ${explain(nats)}`);

  const frontend = row('frontend');
  assert.ok(frontend.met, explain(frontend));
});
