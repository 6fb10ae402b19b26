/**
 * The failure request migration exists for: the worker process dies (SIGKILL, OOM killer) mid-stream.
 * The caller must get StreamDisconnectedError promptly — not a hang, and not a stream that looks finished.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { repoRoot } from '../../util/paths.ts';
import { RequestPlaneClient } from './client.ts';
import { ConnectError, StreamDisconnectedError } from './errors.ts';
import { collectUntilError } from './request-plane.conformance.ts';

const workerScript = join(repoRoot, 'src/runtime/request-plane/testing/ticker-worker-process.ts');
let child: ChildProcess | null = null;
after(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function spawnWorker(): Promise<{ process: ChildProcess; address: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', workerScript], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stderr!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /LISTENING (\S+)/.exec(out);
      if (match) resolve({ process: proc, address: match[1] });
    });
    proc.once('exit', (code) => reject(new Error(`ticker worker exited early (code ${code}): ${out}`)));
  });
}

test('SIGKILL of the worker process mid-stream → StreamDisconnectedError after the items received', async () => {
  const worker = await spawnWorker();
  child = worker.process;
  const client = new RequestPlaneClient();
  const exited = new Promise((resolve) => worker.process.once('exit', resolve));
  const { items, error } = await collectUntilError(
    (async function* () {
      for await (const item of client.call(worker.address, 'ticks', null, { requestId: 'migrate-me' })) {
        yield item;
        if (item === 5) worker.process.kill('SIGKILL');
      }
    })(),
  );
  await exited;
  assert.ok(error instanceof StreamDisconnectedError, `got ${String(error)}`);
  assert.equal(error.origin.requestId, 'migrate-me');
  assert.equal(error.origin.address, worker.address);
  assert.ok(items.length >= 6);
  assert.deepEqual(
    items,
    items.map((_, i) => i),
  );
  const next = await collectUntilError(client.call(worker.address, 'ticks', null));
  assert.ok(next.error instanceof ConnectError, `got ${String(next.error)}`);
  await client.close();
});
