/**
 * GET /health is a readiness probe (503 while no worker serves a model), GET /live a liveness probe (200
 * while the process answers): a frontend with no worker, then one, then none again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startFrontend } from './index.ts';
import { eventually, freshNamespace, quietLogs, spawnWorker } from './testing/frontend-kit.ts';

test('/health answers 503 while no worker serves and 200 while one does; /live is always 200', async () => {
  quietLogs();
  const dir = mkdtempSync(join(tmpdir(), 'dhw-health-test-'));
  const namespace = freshNamespace();
  const frontend = await startFrontend({
    host: '127.0.0.1',
    port: 0,
    namespace,
    discovery: { backend: 'file', fileDir: dir },
    events: { backend: 'memory' },
  });
  const probe = async (path: string) => {
    const res = await fetch(`${frontend.url}${path}`);
    return { status: res.status, body: (await res.json()) as { status: string } };
  };
  try {
    assert.deepEqual(await probe('/health').then((r) => [r.status, r.body.status]), [503, 'no_workers']);
    assert.equal((await probe('/live')).status, 200);

    const worker = await spawnWorker([
      ...['--engine', 'mocker', '--namespace', namespace, '--events', 'memory'],
      ...['--discovery', 'file', '--discovery-dir', dir],
    ]);
    await eventually(() => frontend.models.instances().length === 1, 'the worker in the frontend');
    assert.deepEqual(await probe('/health').then((r) => [r.status, r.body.status]), [200, 'healthy']);

    await worker.stop();
    await eventually(() => frontend.models.instances().length === 0, 'the worker to leave');
    assert.equal((await probe('/health')).status, 503);
    assert.equal((await probe('/live')).status, 200);
  } finally {
    await frontend.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
