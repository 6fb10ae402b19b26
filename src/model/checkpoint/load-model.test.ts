import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ModelLoadError } from '../../util/errors.ts';
import { fixtureDir } from '../../util/paths.ts';
import { SafetensorsCheckpoint } from './safetensors.ts';
import { type TensorToWrite, writeSafetensors, writeShardedSafetensors } from './safetensors-writer.ts';
import { loadModel } from './load-model.ts';

const source = fixtureDir('llama-gqa-untied');
const tmp = mkdtempSync(join(tmpdir(), 'dhw-weights-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const tensors: Record<string, TensorToWrite> = {};
before(async () => {
  const ckpt = await SafetensorsCheckpoint.open(source);
  for (const name of ckpt.names())
    tensors[name] = { shape: ckpt.info(name)!.shape, data: await ckpt.read(name) };
  await ckpt.close();
});

/** A copy of the source checkpoint with its tensors (and optionally its config) changed. */
function variant(
  name: string,
  edit: (t: Record<string, TensorToWrite>) => Record<string, TensorToWrite>,
  config?: (c: Record<string, unknown>) => Record<string, unknown>,
): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  const raw = JSON.parse(readFileSync(join(source, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config ? config(raw) : raw));
  copyFileSync(join(source, 'generation_config.json'), join(dir, 'generation_config.json'));
  writeSafetensors(join(dir, 'model.safetensors'), edit({ ...tensors }));
  return dir;
}

describe('loadModel', () => {
  it('loads every tensor with its shape, untied head separate from the embedding', async () => {
    const { config, weights } = await loadModel(source);
    assert.equal(weights.layers.length, 2);
    assert.equal(weights.embed.length, 512 * 64);
    assert.equal(weights.layers[0]!.wk.length, 32 * 64);
    assert.equal(weights.layers[1]!.wDown.length, 64 * 176);
    assert.equal(weights.layers[0]!.bq, null);
    assert.notEqual(weights.lmHead, weights.embed);
    assert.deepEqual([...weights.lmHead.subarray(0, 4)], [...tensors['lm_head.weight']!.data.subarray(0, 4)]);
    assert.equal(config.tieWordEmbeddings, false);
  });

  it('reports read progress tensor by tensor, ending at the bytes of every tensor read', async () => {
    const seen: [number, number][] = [];
    await loadModel(source, undefined, ({ doneBytes, totalBytes }) => seen.push([doneBytes, totalBytes]));
    const checkpoint = await SafetensorsCheckpoint.open(source);
    const allBytes = checkpoint.names().reduce((sum, n) => sum + checkpoint.info(n)!.byteLength, 0);
    await checkpoint.close();
    assert.deepEqual(seen[0], [0, allBytes], 'first call: nothing read yet, the total known');
    assert.deepEqual(seen.at(-1), [allBytes, allBytes]);
    assert.equal(seen.length, checkpoint.names().length + 1, 'one call per tensor after the first');
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]![0] > seen[i - 1]![0]);
  });

  it('ties the LM head to the embedding array and loads Qwen2 biases', async () => {
    const { weights } = await loadModel(fixtureDir('qwen2-bias-tied'));
    assert.equal(weights.lmHead, weights.embed);
    assert.equal(weights.layers[2]!.bk!.length, 32);
    assert.equal(weights.layers[0]!.bo, null);
  });

  it('accepts tensor names without the "model." prefix', async () => {
    const dir = variant('no-prefix', (t) =>
      Object.fromEntries(Object.entries(t).map(([k, v]) => [k.replace(/^model\./, ''), v])),
    );
    const { weights } = await loadModel(dir);
    assert.deepEqual([...weights.finalNorm], [...tensors['model.norm.weight']!.data]);
  });

  it('loads the same weights from a sharded checkpoint', async () => {
    const dir = join(tmp, 'sharded');
    mkdirSync(dir);
    copyFileSync(join(source, 'config.json'), join(dir, 'config.json'));
    const names = Object.keys(tensors);
    const half = Math.floor(names.length / 2);
    const pick = (list: string[]) => Object.fromEntries(list.map((n) => [n, tensors[n]!]));
    writeShardedSafetensors(dir, {
      'model-00001-of-00002.safetensors': pick(names.slice(0, half)),
      'model-00002-of-00002.safetensors': pick(names.slice(half)),
    });
    const { weights } = await loadModel(dir);
    const reference = await loadModel(source);
    assert.deepEqual(weights, reference.weights);
  });

  it('names the file, tensor and expected shape of a missing tensor', async () => {
    const dir = variant('missing', (t) => {
      delete t['model.layers.1.mlp.up_proj.weight'];
      return t;
    });
    await assert.rejects(
      loadModel(dir),
      (e: Error) =>
        e instanceof ModelLoadError &&
        e.message.includes('model.safetensors') &&
        e.message.includes('"model.layers.1.mlp.up_proj.weight" is missing') &&
        e.message.includes('[176,64]'),
    );
  });

  it('names the tensor, its shape and the expected one on a shape mismatch', async () => {
    const dir = variant('wrong-shape', (t) => {
      t['model.layers.0.self_attn.k_proj.weight'] = { shape: [64, 32], data: new Float32Array(64 * 32) };
      return t;
    });
    await assert.rejects(
      loadModel(dir),
      (e: Error) =>
        e instanceof ModelLoadError &&
        e.message.includes('model.safetensors') &&
        e.message.includes('"model.layers.0.self_attn.k_proj.weight" has shape [64,32], expected [32,64]'),
    );
  });

  it('requires lm_head.weight when embeddings are not tied', async () => {
    const dir = variant('no-head', (t) => {
      delete t['lm_head.weight'];
      return t;
    });
    await assert.rejects(loadModel(dir), /"lm_head.weight" is missing \(expected shape \[512,64\]/);
  });

  it('rejects an unknown architecture naming config.json', async () => {
    const dir = variant(
      'unknown-arch',
      (t) => t,
      (c) => ({ ...c, architectures: ['FalconForCausalLM'] }),
    );
    await assert.rejects(
      loadModel(dir),
      (e: Error) =>
        e instanceof ModelLoadError &&
        e.message.includes(join(dir, 'config.json')) &&
        e.message.includes('"FalconForCausalLM" is not supported'),
    );
  });
});
