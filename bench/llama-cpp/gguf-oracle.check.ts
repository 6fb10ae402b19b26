/**
 * Outside cross-check of our GGUF writer: Hugging Face's own parser (`@huggingface/gguf`, installed with this
 * bench package) must read back the metadata and tensor infos `dhw model convert` wrote, with our reader
 * agreeing on every key and offset. Run: `node --import tsx --test bench/llama-cpp/gguf-oracle.check.ts`.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { convertToGguf, readGgufHeader } from '../../src/model/index.ts';
import { defaultModelDir } from '../../src/util/paths.ts';
import { benchPackageDir, INSTALL_HINT } from './node-llama-cpp.ts';

interface OracleTensor {
  name: string;
  shape: bigint[];
  dtype: number;
  offset: bigint;
}
interface OracleResult {
  metadata: Record<string, unknown>;
  tensorInfos: OracleTensor[];
  tensorDataOffset: bigint;
}
type Gguf = (uri: string, params: { allowLocalFile: boolean }) => Promise<OracleResult>;

const tmp = mkdtempSync(join(tmpdir(), 'gguf-oracle-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('@huggingface/gguf reads what we write', () => {
  for (const dtype of ['f32', 'q8_0'] as const) {
    it(`${dtype}: same metadata, tensor shapes, types and offsets`, async (t) => {
      if (!existsSync(join(benchPackageDir, 'node_modules', '@huggingface', 'gguf'))) {
        return t.skip(`@huggingface/gguf is not installed; run ${INSTALL_HINT}`);
      }
      const specifier = '@huggingface/gguf';
      const { gguf } = (await import(specifier)) as { gguf: Gguf };
      const { file } = await convertToGguf(defaultModelDir, {
        out: join(tmp, `fortune-${dtype}.gguf`),
        dtype,
      });
      const oracle = await gguf(file, { allowLocalFile: true });
      const ours = readGgufHeader(file);
      assert.equal(oracle.metadata['general.architecture'], 'llama');
      assert.equal(oracle.metadata['llama.block_count'], 6);
      assert.equal((oracle.metadata['tokenizer.ggml.tokens'] as string[]).length, 2048);
      for (const [key, value] of ours.metadata) {
        if (value.type === 'array') assert.deepEqual(oracle.metadata[key], value.value, key);
        else if (value.type === 'float32') assert.equal(oracle.metadata[key], value.value, key);
        else assert.equal(String(oracle.metadata[key]), String(value.value), key);
      }
      assert.equal(Number(oracle.tensorDataOffset), ours.dataStart);
      assert.equal(oracle.tensorInfos.length, ours.tensors.size);
      for (const info of oracle.tensorInfos) {
        const mine = ours.tensors.get(info.name)!;
        assert.deepEqual(info.shape.map(Number).reverse(), mine.shape, info.name);
        assert.equal(Number(info.offset) + ours.dataStart, mine.position, info.name);
        assert.equal(info.dtype, { F32: 0, F16: 1, Q8_0: 8, BF16: 30 }[mine.type], info.name);
      }
    });
  }
});
