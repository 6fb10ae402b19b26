/**
 * `dhw model random` writes through a staging folder: complete → renamed into place with every shard;
 * interrupted (SIGINT mid-write) → exit 1 with a message, and neither the output folder nor any staging
 * folder with a partial shard is left behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadModelConfig, writeRandomCheckpointAsync } from '../../model/index.ts';
import { repoRoot } from '../../util/paths.ts';

const dir = mkdtempSync(join(tmpdir(), 'dhw-model-random-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const tiny = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 64,
  intermediate_size: 128,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  num_hidden_layers: 2,
  vocab_size: 300,
  max_position_embeddings: 128,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: true,
  bos_token_id: 1,
  eos_token_id: 2,
};

test('a finished write is renamed into place, with progress reported up to the total', async () => {
  const out = join(dir, 'tiny');
  const seen: number[] = [];
  let total = 0;
  const result = await writeRandomCheckpointAsync(
    out,
    { shape: tiny },
    {
      onProgress: (p) => {
        seen.push(p.doneBytes);
        total = p.totalBytes;
      },
    },
  );
  assert.equal(result.dir, out);
  assert.equal(loadModelConfig(out).numLayers, 2);
  assert.ok(result.shards.every((f) => existsSync(f)));
  assert.equal(seen.at(-1), total, 'progress ends at the total');
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes('partial')),
    [],
  );
});

test('SIGINT mid-write leaves no partial shard and no output folder', async () => {
  const out = join(dir, 'interrupted');
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'bin', 'dhw.mjs'), 'model', 'random', '--shape', 'smollm2-135m', '--out', out],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  // Wait until the staging folder holds data, then interrupt.
  const deadline = Date.now() + 60_000;
  while (!readdirSync(dir).some((n) => n.startsWith('.interrupted.partial-'))) {
    assert.ok(Date.now() < deadline, 'the write started');
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGINT');
  const code = await exited;
  assert.equal(code, 1, stderr);
  assert.match(stderr, /interrupted: removed the unfinished .*; nothing was written to/);
  assert.equal(existsSync(out), false);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes('partial')),
    [],
  );
});
