/**
 * GGUF through the CLI, as a user runs it (real child processes):
 *   - `dhw generate FILE.gguf` and `dhw generate FOLDER` (holding one .gguf) pick the same greedy tokens as
 *     the safetensors folder, for the bundled model and for the untied GQA fixture;
 *   - `dhw chat FILE.gguf` answers a piped conversation with the golden text (chat template from the GGUF);
 *   - `dhw serve FILE.gguf` with a child worker serves the model under the file's name, its card (tokenizer,
 *     template) built from the GGUF, answering with the golden text;
 *   - `dhw model convert FILE.gguf` says it is already GGUF.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnDhw } from '../../frontend/testing/frontend-kit.ts';
import { freePort } from '../../infra/free-port.ts';
import { byteLevelTokenizer } from '../../model/checkpoint/random-checkpoint.ts';
import { convertToGguf } from '../../model/index.ts';
import { TcpRequestPlane } from '../../runtime/request-plane/index.ts';
import { greedyRequest } from '../../worker/testing/worker-kit.ts';
import { defaultModelDir, fixtureDir, repoRoot } from '../../util/paths.ts';

const DHW = join(repoRoot, 'bin', 'dhw.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'gguf-cli-'));
const children = new Set<ChildProcess>();
/** The children's derived GGUF folders ($TMPDIR/dhw-gguf-models) land in this test's scratch folder. */
const CHILD_ENV = { TMPDIR: tmp };
after(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

const golden = JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')).samples[0] as {
  messages: { role: string; content: string }[];
  prompt_ids: number[];
  greedy_text: string;
};

function dhw(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [DHW, ...args], {
    input,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, ...CHILD_ENV },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `dhw generate MODEL --token-ids ... --json`: the model name and the greedy ids. */
function greedy(model: string, ids: number[]): { model: string; token_ids: number[] } {
  const r = dhw([
    'generate',
    model,
    '--token-ids',
    ids.join(','),
    '--max-tokens',
    '24',
    '--ignore-eos',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

describe('the bundled model exported to GGUF', () => {
  let gguf: string;
  before(async () => {
    gguf = (await convertToGguf(defaultModelDir, { out: join(tmp, 'fortune-f32.gguf') })).file;
  });

  it('generate FILE.gguf and a folder holding it pick the same tokens as the safetensors folder', () => {
    const expected = greedy(defaultModelDir, golden.prompt_ids).token_ids;
    const fromFile = greedy(gguf, golden.prompt_ids);
    assert.equal(fromFile.model, 'fortune-f32');
    assert.deepEqual(fromFile.token_ids, expected);
    const folder = join(tmp, 'only-gguf');
    mkdirSync(folder);
    copyFileSync(gguf, join(folder, 'fortune.gguf'));
    assert.deepEqual(greedy(folder, golden.prompt_ids).token_ids, expected);
  });

  it('chat FILE.gguf renders the chat template from the GGUF and answers with the golden text', () => {
    const user = golden.messages.find((m) => m.role === 'user')!.content;
    const r = dhw(['chat', gguf, '--temperature', '0'], `${user}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(golden.greedy_text.trim()), r.stdout);
  });

  it('serve FILE.gguf with a child worker: model card from the GGUF, golden answer', async () => {
    const port = await freePort();
    const discovery = join(tmp, 'discovery');
    const serve = await spawnDhw(
      [
        'serve',
        gguf,
        '--workers',
        '1',
        '--discovery',
        'file',
        '--discovery-dir',
        discovery,
        '--events',
        'memory',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
      ],
      /Serving fortune-f32 at /,
      { timeoutMs: 60_000, env: CHILD_ENV },
    );
    children.add(serve.child);
    const url = `http://127.0.0.1:${port}/v1`;
    const models = (await (await fetch(`${url}/models`)).json()) as { data: { id: string }[] };
    assert.deepEqual(
      models.data.map((m) => m.id),
      ['fortune-f32'],
    );
    const res = await fetch(`${url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fortune-f32', messages: golden.messages, temperature: 0 }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    assert.equal(body.choices[0]!.message.content, golden.greedy_text);
    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
  });

  it('worker FILE.gguf registers under the file name and serves generate over the request plane', async () => {
    const discovery = join(tmp, 'worker-discovery');
    const worker = await spawnDhw(
      ['worker', gguf, '--discovery', 'file', '--discovery-dir', discovery, '--events', 'memory'],
      /Worker \S+ serving fortune-f32 on (\S+?),? /,
      { timeoutMs: 60_000, env: CHILD_ENV },
    );
    children.add(worker.child);
    const address = /serving fortune-f32 on (\S+?),? /.exec(worker.output())![1]!;
    const plane = new TcpRequestPlane();
    try {
      const ids: number[] = [];
      for await (const out of plane.call(address, 'generate', greedyRequest(golden.prompt_ids, 8)))
        ids.push((out as { tokenId: number }).tokenId);
      assert.deepEqual(ids, greedy(defaultModelDir, golden.prompt_ids).token_ids.slice(0, 8));
    } finally {
      await plane.close();
    }
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
  });

  it('model convert FILE.gguf says it is already GGUF', () => {
    const r = dhw(['model', 'convert', gguf]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /already GGUF/);
  });
});

it('the untied GQA fixture through GGUF picks the same tokens as its safetensors folder', async () => {
  const source = fixtureDir('llama-gqa-untied');
  const dir = join(tmp, 'llama-gqa-untied');
  mkdirSync(dir);
  for (const f of ['config.json', 'generation_config.json', 'model.safetensors'])
    copyFileSync(join(source, f), join(dir, f));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(byteLevelTokenizer(512, ['<s>'])));
  writeFileSync(join(dir, 'tokenizer_config.json'), '{}');
  const { file } = await convertToGguf(dir, { out: join(tmp, 'gqa-f32.gguf') });
  const prompt = [0, 17, 300, 44, 501, 9, 260];
  assert.deepEqual(greedy(file, prompt).token_ids, greedy(dir, prompt).token_ids);
});
