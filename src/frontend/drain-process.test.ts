/**
 * SIGTERM on a real `dhw frontend` PROCESS (a mocker worker process behind it, file discovery): the
 * listener closes, a request in flight on a keep-alive connection finishes with `Connection: close`, a
 * stream that outlives `--drain-timeout` ends with a `shutting_down` error event and [DONE] (not a reset),
 * nothing claims to migrate, and the process exits 0.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  type DhwProcess,
  eventually,
  freshNamespace,
  type HealthReply,
  metricValue,
  spawnDhw,
  spawnWorker,
  type WorkerProcess,
} from './testing/frontend-kit.ts';

let dir: string;
let worker: WorkerProcess;
let frontend: DhwProcess;
let url: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dhw-drain-test-'));
  const namespace = freshNamespace();
  const discovery = ['--discovery', 'file', '--discovery-dir', dir, '--namespace', namespace];
  worker = await spawnWorker(['--engine', 'mocker', ...discovery, '--events', 'memory']);
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
      '--drain-timeout',
      '3',
    ],
    /Frontend at (http:\/\/\S+)\/v1/,
  );
  url = frontend.ready[1];
  let workers = 0;
  const poll = setInterval(async () => {
    const health = (await (await fetch(`${url}/health`)).json()) as HealthReply;
    workers = health.instances.length;
  }, 100);
  await eventually(() => workers === 1, 'the worker in the frontend').finally(() => clearInterval(poll));
});
after(async () => {
  if (frontend && frontend.child.exitCode === null) frontend.child.kill('SIGKILL');
  await worker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  connection: string | undefined;
  text: string;
  /** Resolves once the first body bytes arrived. */
  firstBytes: Promise<void>;
  done: Promise<void>;
}

/** POST on its own keep-alive connection; the answer fills in as it arrives. */
function post(body: object): Answer {
  let gotBytes!: () => void;
  const answer = {
    status: 0,
    connection: undefined,
    text: '',
    firstBytes: new Promise<void>((resolve) => {
      gotBytes = resolve;
    }),
  } as unknown as Answer;
  answer.done = new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}/v1/completions`,
      { method: 'POST', headers: { 'content-type': 'application/json', connection: 'keep-alive' } },
      (res) => {
        answer.status = res.statusCode ?? 0;
        answer.connection = res.headers.connection;
        res.on('data', (d) => {
          answer.text += d;
          gotBytes();
        });
        res.on('end', resolve);
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
  return answer;
}

/** Poll the frontend's in-flight gauge until it reads `n`. */
async function untilInflight(n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  const inflight = async () =>
    metricValue(await (await fetch(`${url}/metrics`)).text(), 'dynamo_frontend_inflight_requests');
  while ((await inflight()) !== n) {
    if (Date.now() > deadline) throw new Error(`the frontend never held ${n} requests`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('SIGTERM: keep-alive answers close the connection, a cut stream ends with an error event, exit 0', async () => {
  const stream = post({ prompt: 'Once upon a time', max_tokens: 1000, ignore_eos: true, stream: true });
  await stream.firstBytes;
  // ~50 mocker tokens: still running when SIGTERM lands, done well inside the 3 s drain (the stream's
  // 1000 tokens are not). SIGTERM goes once the frontend holds both requests: after a fixed sleep a loaded
  // box could still be connecting (refused) or have already answered (keep-alive, not close).
  const short = post({ prompt: 'Hello', max_tokens: 48, ignore_eos: true });
  await untilInflight(2);
  frontend.child.kill('SIGTERM');

  await short.done;
  assert.equal(short.status, 200, short.text);
  assert.equal(short.connection, 'close');

  await stream.done;
  const events = stream.text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));
  assert.equal(events.at(-1), '[DONE]');
  const last = JSON.parse(events.at(-2) ?? '{}') as { error?: { code: string; type: string } };
  assert.equal(last.error?.code, 'shutting_down');
  assert.ok(events.length > 3, 'tokens streamed before the cut');

  assert.equal(await frontend.exited, 0);
  assert.doesNotMatch(frontend.output(), /migrating request/);
  await assert.rejects(fetch(`${url}/live`), 'the listener is closed');
  // The worker was not touched: it still serves (its own status port answers).
  assert.match(await worker.metrics(), /dynamo_component_requests_total/);
});
