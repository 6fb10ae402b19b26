/**
 * `dhw worker --kv-events` flag checks, as a user meets them (child processes): a bad endpoint or a replay
 * endpoint without --kv-events is a usage error (exit 2) naming the fix, before anything starts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../util/paths.ts';

function dhwWorker(args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'dhw.mjs'), 'worker', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stderr: r.stderr };
}

test('--kv-events must be zmq://HOST:PORT', () => {
  const r = dhwWorker(['--engine', 'mocker', '--kv-events', 'nats://127.0.0.1:4222']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--kv-events nats:\/\/127\.0\.0\.1:4222: expected zmq:\/\/HOST:PORT/);
});

test('--kv-events-replay needs --kv-events', () => {
  const r = dhwWorker(['--engine', 'mocker', '--kv-events-replay', 'zmq://127.0.0.1:5558']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--kv-events-replay needs --kv-events/);
});

test('--help lists both flags', () => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'dhw.mjs'), 'worker', '--help'], {
    encoding: 'utf8',
  });
  assert.match(r.stdout, /--kv-events VALUE +zmq:\/\/HOST:PORT/);
  assert.match(r.stdout, /--kv-events-replay VALUE/);
});
