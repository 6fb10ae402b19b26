/**
 * `dhw serve` as a supervisor and a good neighbour: a worker child killed with SIGKILL is started again
 * (and the model served again), and a taken HTTP port is one line naming --port before any model loads.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventually, quietLogs, spawnDhw } from '../../frontend/testing/frontend-kit.ts';
import { freePort } from '../../infra/free-port.ts';
import { repoRoot } from '../../util/paths.ts';

quietLogs();

const STARTED = /worker process started worker=worker-1 pid=(\d+)/g;

test('`dhw serve` restarts a worker child that dies, and serves again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dhw-serve-supervise-'));
  const port = await freePort();
  const serve = await spawnDhw(
    [
      ...['serve', '--discovery', 'file', '--discovery-dir', dir, '--events', 'memory'],
      ...['--engine', 'mocker', '--speedup-ratio', '0', '--host', '127.0.0.1', '--port', String(port)],
    ],
    /Serving fortune-llama at /,
    { timeoutMs: 60_000 },
  );
  const complete = () =>
    fetch(`http://127.0.0.1:${port}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fortune-llama', prompt: 'Hello', max_tokens: 3 }),
    }).then((res) => res.status);
  try {
    assert.equal(await complete(), 200);
    const firstPid = Number([...serve.output().matchAll(STARTED)][0]?.[1]);
    assert.ok(firstPid > 0, serve.output());
    process.kill(firstPid, 'SIGKILL');
    await eventually(
      () => /worker process exited; restarting it worker=worker-1/.test(serve.output()),
      'serve to notice the death',
    );
    await eventually(() => [...serve.output().matchAll(STARTED)].length === 2, 'a second worker-1', 15_000);
    await eventually(
      () => (serve.output().match(/\[worker-1\] .*Worker [0-9a-f]+ serving/g) ?? []).length === 2,
      'the new worker-1 to serve',
      30_000,
    );
    // The dead worker's file lease expires within its TTL; the new one serves meanwhile (or after).
    const deadline = Date.now() + 20_000;
    let status = await complete();
    while (status !== 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      status = await complete();
    }
    assert.equal(status, 200);
  } finally {
    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a taken --port: one line naming --port, before the model loads', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as { port: number }).port;
  try {
    for (const command of ['serve', 'frontend']) {
      const child = spawn(
        process.execPath,
        [join(repoRoot, 'bin', 'dhw.mjs'), command, '--host', '127.0.0.1', '--port', String(port)],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const code = await new Promise((resolve) => child.on('exit', resolve));
      assert.equal(code, 1, out);
      const lines = out.trim().split('\n');
      assert.equal(lines.length, 1, `one line, got:\n${out}`);
      assert.match(lines[0]!, new RegExp(`^dhw ${command}: port ${port} is already in use .*--port$`));
    }
  } finally {
    taken.close();
  }
});
