/**
^ * deploy/ (grafana/, prometheus.yml): the Grafana dashboard and the Prometheus config match what the stack exposes.
 *   - every metric a Grafana panel queries exists in a live /metrics (a frontend and a worker of
 *     `dhw serve --discovery file --workers 1 --engine mocker`, after a few requests);
 *   - `dhw ls --prometheus-sd FILE` writes file_sd targets that answer /metrics, and prometheus.yml reads
 *     that file name.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { quietLogs, spawnDhw } from '../../frontend/testing/frontend-kit.ts';
import { freePort } from '../../infra/free-port.ts';
import { repoRoot } from '../../util/paths.ts';

quietLogs();
const dir = mkdtempSync(join(tmpdir(), 'dhw-monitoring-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Panel {
  title: string;
  targets: Array<{ expr: string }>;
}

/** Metric families a PromQL expression reads (histogram series map back to their family). */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b(dynamo_[a-z_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ''));
}

/** Metric families a Prometheus text exposition declares (# TYPE lines). */
function families(text: string): Set<string> {
  return new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
}

test('every metric the Grafana dashboard queries exists in a live /metrics; file_sd targets answer', async () => {
  const port = await freePort();
  const discovery = join(dir, 'discovery');
  const serve = await spawnDhw(
    [
      'serve',
      '--discovery',
      'file',
      '--discovery-dir',
      discovery,
      '--events',
      'memory',
      '--workers',
      '1',
      '--engine',
      'mocker',
      '--speedup-ratio',
      '0',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
    ],
    /Serving .* at /,
    { timeoutMs: 60_000 },
  );
  try {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: `hello number ${i}`, max_tokens: 4, stream: true }),
      });
      await res.text();
    }
    const sd = join(dir, 'dhw-workers.json');
    const ls = spawnSync(
      process.execPath,
      [
        join(repoRoot, 'bin', 'dhw.mjs'),
        'ls',
        '--discovery',
        'file',
        '--discovery-dir',
        discovery,
        '--prometheus-sd',
        sd,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(ls.status, 0, ls.stderr);
    const groups = JSON.parse(readFileSync(sd, 'utf8')) as Array<{
      targets: string[];
      labels: Record<string, string>;
    }>;
    assert.equal(groups.length, 1);
    assert.equal(groups[0]!.labels.model, 'fortune-llama');
    const exposed = families(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    for (const target of groups[0]!.targets) {
      for (const f of families(await (await fetch(`http://${target}/metrics`)).text())) exposed.add(f);
    }
    const dashboard = JSON.parse(
      readFileSync(join(repoRoot, 'deploy', 'grafana', 'dynamo-the-hard-way.json'), 'utf8'),
    ) as {
      panels: Panel[];
      templating: { list: Array<{ query: { query: string } }> };
    };
    const queried = new Set([
      ...dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricsIn(t.expr))),
      ...dashboard.templating.list.flatMap((v) => metricsIn(v.query.query)),
    ]);
    assert.ok(queried.size >= 10, `the dashboard queries ${queried.size} metrics`);
    const missing = [...queried].filter((m) => !exposed.has(m));
    assert.deepEqual(missing, [], 'metrics the dashboard queries but no /metrics exposes');
    const prometheus = readFileSync(join(repoRoot, 'deploy', 'prometheus.yml'), 'utf8');
    assert.match(prometheus, /files: \['dhw-workers\.json'\]/);
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
  }
});
