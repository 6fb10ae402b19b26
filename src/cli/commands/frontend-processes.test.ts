/**
 * `dhw frontend --processes 2` as a real process tree (a mocker worker process behind it, file discovery):
 * one URL, two child processes serving it; a child killed with SIGKILL is replaced (logged) while the other
 * keeps answering on the same port; SIGTERM on the primary drains both and exits 0.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  type DhwProcess,
  eventually,
  freshNamespace,
  spawnDhw,
  spawnWorker,
  type WorkerProcess,
} from '../../frontend/testing/frontend-kit.ts';

let dir: string;
let worker: WorkerProcess;
let frontend: DhwProcess;
let url: string;

/** The frontend's node children (tsx's esbuild service is a child too, and not one of them). */
function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter(([, comm]) => comm === 'node')
      .map(([child]) => Number(child));
  } catch {
    return []; // ps exits 1 when there are none
  }
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${frontend.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A completion on a fresh connection each time (no agent), so the primary hands each to the next child. */
function complete(): Promise<number> {
  const body = JSON.stringify({ model: 'fortune-llama', prompt: 'once upon a time', max_tokens: 3 });
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}/v1/completions`,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json' }, timeout: 10_000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dhw-frontend-processes-'));
  const discovery = ['--discovery', 'file', '--discovery-dir', dir, '--namespace', freshNamespace()];
  worker = await spawnWorker([
    '--engine',
    'mocker',
    '--speedup-ratio',
    '0',
    ...discovery,
    '--events',
    'memory',
  ]);
  frontend = await spawnDhw(
    [
      'frontend',
      ...discovery,
      '--events',
      'memory',
      '--router',
      'round-robin',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--processes',
      '2',
    ],
    /Frontend at (http:\/\/\S+)\/v1 \(2 processes/,
  );
  url = frontend.ready[1]!;
});
after(async () => {
  if (frontend && frontend.child.exitCode === null) frontend.child.kill('SIGKILL');
  for (const pid of frontend ? childPids(frontend.child.pid!) : []) process.kill(pid, 'SIGKILL');
  await worker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('two processes serve one port; a killed one is replaced while the other answers; SIGTERM exits 0', {
  timeout: 90_000,
}, async () => {
  const primary = frontend.child.pid!;
  assert.equal(childPids(primary).length, 2, frontend.output());
  // Each child discovers the worker on its own: one 200 proves only one of them. Two in a row do (the
  // primary hands each fresh connection to the next child).
  await until(
    async () => (await complete()) === 200 && (await complete()) === 200,
    'both frontends see the worker',
  );
  for (let i = 0; i < 6; i++) assert.equal(await complete(), 200);
  const [victim, survivor] = childPids(primary) as [number, number];
  process.kill(victim, 'SIGKILL');
  // A connection handed over in the instant before the primary sees the death is lost with the child (as
  // with any pre-fork server); once it has, until the replacement listens, every request lands on the
  // survivor: none may fail.
  await eventually(
    () => /frontend process died; starting another/.test(frontend.output()),
    'the death noticed',
  );
  for (let i = 0; i < 6; i++) assert.equal(await complete(), 200, frontend.output());
  const listening = () => frontend.output().match(/frontend process listening/g)?.length ?? 0;
  await eventually(() => listening() === 3, 'a replacement process listening', 30_000);
  assert.equal(childPids(primary).length, 2);
  assert.ok(!childPids(primary).includes(victim));
  assert.ok(childPids(primary).includes(survivor));
  await until(async () => (await complete()) === 200, 'the replacement serves');

  frontend.child.kill('SIGTERM');
  assert.equal(await frontend.exited, 0, frontend.output());
  assert.deepEqual(childPids(primary), []);
});
