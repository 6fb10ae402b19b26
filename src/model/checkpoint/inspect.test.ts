import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultModelDir, fixtureDir } from '../../util/paths.ts';
import { convertToGguf } from './gguf/hf-to-gguf.ts';
import { describeModel } from './inspect.ts';

describe('describeModel', () => {
  it('describes the bundled fortune-llama from headers alone', async () => {
    const d = await describeModel(defaultModelDir);
    assert.equal(d.architecture, 'LlamaForCausalLM');
    assert.equal(d.parameters, 4_951_296, 'the count in golden.json (tied head counted once)');
    assert.equal(d.bytesOnDisk, statSync(join(defaultModelDir, 'model.safetensors')).size);
    assert.equal(d.dtype, 'BF16');
    assert.deepEqual([d.layers, d.hidden, d.heads, d.kvHeads, d.headDim, d.vocab], [6, 256, 8, 4, 32, 2048]);
    assert.equal(d.contextLength, 1024);
    // K and V × 6 layers × 4 KV heads × 32 dims × 4 bytes.
    assert.deepEqual(d.kvBytesPerToken, { fp32: 2 * 6 * 4 * 32 * 4, checkpointDtype: 2 * 6 * 4 * 32 * 2 });
    assert.deepEqual(d.kvBytesAtFullContext, { fp32: 6144 * 1024, checkpointDtype: 3072 * 1024 });
  });

  it('reports fp32 checkpoints and the untied head', async () => {
    const d = await describeModel(fixtureDir('llama-gqa-untied'));
    assert.equal(d.dtype, 'F32');
    assert.equal(d.tieWordEmbeddings, false);
    assert.equal(d.kvBytesPerToken.fp32, d.kvBytesPerToken.checkpointDtype);
    const perLayer = 64 + 64 * 64 + 2 * 32 * 64 + 64 * 64 + 64 + 3 * 176 * 64;
    assert.equal(d.parameters, 2 * 512 * 64 + 2 * perLayer + 64);
  });

  it('describes a GGUF file from its header: same parameters, its own bytes and dtype', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'inspect-gguf-'));
    after(() => rmSync(tmp, { recursive: true, force: true }));
    const { file } = await convertToGguf(defaultModelDir, {
      out: join(tmp, 'fortune-q8.gguf'),
      dtype: 'q8_0',
    });
    const d = await describeModel(file);
    assert.equal(d.parameters, 4_951_296);
    assert.equal(d.bytesOnDisk, statSync(file).size);
    assert.equal(d.dtype, 'Q8_0');
    assert.deepEqual(d.kvBytesPerToken, { fp32: 2 * 6 * 4 * 32 * 4, checkpointDtype: 2 * 6 * 4 * 32 * 2 });
  });
});
