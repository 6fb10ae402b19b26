/**
 * The mocker has no model, so no logits for prompt positions: `echo` + `logprobs` through a real frontend
 * to a mocker worker process is a 400 in OpenAI's shape naming `prompt_logprobs` and what serves it
 * (a model engine), not made-up numbers. (The scratch engine's answer is in openai-api.test.ts.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FrontendHandle } from './frontend.ts';
import {
  freshNamespace,
  quietLogs,
  spawnWorker,
  startTestFrontend,
  type WorkerProcess,
} from './testing/frontend-kit.ts';

quietLogs();

let dir: string;
let worker: WorkerProcess;
let frontend: FrontendHandle;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dhw-prompt-logprobs-'));
  const namespace = freshNamespace();
  worker = await spawnWorker([
    '--engine',
    'mocker',
    '--speedup-ratio',
    '0',
    '--discovery',
    'file',
    '--discovery-dir',
    dir,
    '--events',
    'memory',
    '--namespace',
    namespace,
  ]);
  frontend = await startTestFrontend(
    {
      namespace,
      discovery: { backend: 'file', fileDir: dir },
      events: { backend: 'memory' },
      router: { router: 'round-robin' },
    },
    1,
  );
});
after(async () => {
  await frontend?.close();
  await worker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('echo + logprobs on a mocker worker: 400 naming prompt_logprobs; echo alone still served', async () => {
  const post = (extra: object) =>
    fetch(`${frontend.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fortune-llama', prompt: 'once upon a time', max_tokens: 3, ...extra }),
    });
  const refused = await post({ echo: true, logprobs: 1 });
  assert.equal(refused.status, 400);
  const { error } = (await refused.json()) as { error: { type: string; param: string; message: string } };
  assert.equal(error.type, 'invalid_request_error');
  assert.equal(error.param, 'prompt_logprobs');
  assert.match(error.message, /computes no logits for prompt positions/);
  assert.match(error.message, /--engine scratch/);
  const echoed = await post({ echo: true });
  assert.equal(echoed.status, 200, await echoed.clone().text());
});
