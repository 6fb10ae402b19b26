/**
 * Pipeline parallelism as a user runs it: a PP=2 worker behind the frontend (embedded `dhw serve`, its
 * stage process spawned by the worker) registers as ONE instance and answers the same chat completion as
 * PP=1 (the golden text, which serve.test.ts checks for PP=1); `dhw generate` prints the same tokens with
 * 1, 2 and 3 stages; a stage started by hand (`dhw worker --pipeline-stage 1`, as on another host) serves
 * one engine after another; a worker refuses a disaggregated role with PP > 1, naming the fix.
 */
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import OpenAI from 'openai';
import { quietLogs, spawnDhw } from '../../frontend/testing/frontend-kit.ts';
import { freePort } from '../../infra/free-port.ts';
import { LlmEngine } from '../../engine/index.ts';
import { DEFAULT_SAMPLING } from '../../protocols/engine.ts';
import { asRequestId } from '../../protocols/ids.ts';
import { defaultModelDir, repoRoot } from '../../util/paths.ts';

quietLogs();

const DHW = join(repoRoot, 'bin', 'dhw.mjs');
const children = new Set<ChildProcess>();
const dirs: string[] = [];
after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dhw(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DHW, ...args], (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

const golden = JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')).samples[0];

test('embedded `dhw serve --pipeline-parallel-size 2`: one instance, the PP=1 (golden) completion', async () => {
  const port = await freePort();
  const serve = await spawnDhw(
    ['serve', '--pipeline-parallel-size', '2', '--host', '127.0.0.1', '--port', String(port)],
    /Serving fortune-llama at .* with 1 worker\(s\)/,
    { timeoutMs: 60_000 },
  );
  children.add(serve.child);
  const url = `http://127.0.0.1:${port}`;
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
  const res = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
  });
  assert.equal(res.choices[0]!.message.content, golden.greedy_text);
  const health = (await (await fetch(`${url}/health`)).json()) as { instances: unknown[] };
  assert.equal(health.instances.length, 1, 'the pipeline registers as one instance');
  serve.child.kill('SIGTERM');
  assert.equal(await serve.exited, 0);
});

test('`dhw generate` prints the same tokens with 1, 2 and 3 pipeline stages', async () => {
  const run = async (stages: number) => {
    const args = ['generate', '--token-ids', '1,450,338,263', '--max-tokens', '24', '--json'];
    const r = await dhw([
      ...args,
      '--pipeline-parallel-size',
      String(stages),
      '--pipeline-micro-batches',
      '2',
    ]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { token_ids: number[] }).token_ids;
  };
  const one = await run(1);
  assert.ok(one.length > 0);
  assert.deepEqual(await run(2), one);
  assert.deepEqual(await run(3), one);
});

test('`dhw worker --role prefill --pipeline-parallel-size 2` is refused with the fix named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dhw-pp-'));
  dirs.push(dir);
  const r = await dhw([
    'worker',
    '--role',
    'prefill',
    '--pipeline-parallel-size',
    '2',
    '--discovery',
    'file',
    '--discovery-dir',
    dir,
    '--events',
    'memory',
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--role prefill does not work with --pipeline-parallel-size 2/);
  assert.match(r.stderr, /--pipeline-parallel-size 1, or this worker with --role aggregated/);
});

test('`dhw generate --pipeline-parallel-size` larger than the layer count names the limit', async () => {
  const r = await dhw(['generate', '--token-ids', '1,2', '--pipeline-parallel-size', '7']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /larger than the model's 6 layers: use at most 6 stages/);
});

test('`dhw worker --pipeline-stage 1` (a stage on another host) serves engines one after another', async () => {
  const stage = await spawnDhw(
    [
      'worker',
      '--pipeline-stage',
      '1',
      '--pipeline-parallel-size',
      '2',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
    ],
    /Pipeline stage 1 of 2 \(layers 3-5\) listening on (\S+)/,
    { timeoutMs: 60_000 },
  );
  children.add(stage.child);
  const address = stage.ready[1]!;
  const greedy = async (opts: { pipelineParallelSize?: number; pipelineStageAddresses?: string[] }) => {
    const engine = await LlmEngine.create({ modelDir: defaultModelDir, threads: 1, ...opts });
    try {
      const out: number[] = [];
      const request = {
        requestId: asRequestId('hand-started'),
        promptTokenIds: [1, 450, 338, 263],
        sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
        stopping: { maxTokens: 16, stopTokenIds: [], ignoreEos: true },
      };
      for await (const o of engine.generate(request)) out.push(o.tokenId);
      return out;
    } finally {
      await engine.close();
    }
  };
  const expected = await greedy({});
  assert.deepEqual(await greedy({ pipelineParallelSize: 2, pipelineStageAddresses: [address] }), expected);
  assert.deepEqual(await greedy({ pipelineParallelSize: 2, pipelineStageAddresses: [address] }), expected);
  stage.child.kill('SIGTERM');
  assert.equal(await stage.exited, 0);
});
