import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadModelConfig } from '../checkpoint/config.ts';
import { activationBytesFor } from '../forward.ts';
import { defaultModelDir } from '../../util/paths.ts';
import { DEFAULT_ACTIVATION_RESERVE_BYTES, KernelBackend } from './index.ts';

const inArena = (kv: { key: Float32Array[] }) => kv.key[0]!.buffer instanceof SharedArrayBuffer;

describe('KV cache placement in a nearly full arena', () => {
  it('a cache joins the arena when its own activation reserve fits, though the default 512 MiB would not', async () => {
    const backend = await KernelBackend.create({ threads: 1, weightDtype: 'f32' }, 1 << 20);
    try {
      // Fill the arena to 3.75 GiB, as TinyLlama's f32 weights do (address space only: nothing is touched).
      for (let i = 0; i < 15; i++) backend.allocF32((256 * 2 ** 20) / 4);
      const floatsPerLayer = 64 * 1024; // 512 KiB of K and V per layer
      const small = backend.allocKvBuffers(2, floatsPerLayer, 64 * 2 ** 20);
      assert.ok(inArena(small), 'with a 64 MiB reserve the cache fits in the last 256 MiB');
      const withDefault = backend.allocKvBuffers(2, floatsPerLayer, DEFAULT_ACTIVATION_RESERVE_BYTES);
      assert.ok(!inArena(withDefault), 'with the default reserve it goes to ordinary memory');
    } finally {
      await backend.close();
    }
  });

  it('the reserve for a small cache is small, for an engine-sized one it is the default', () => {
    const config = loadModelConfig(defaultModelDir);
    assert.ok(activationBytesFor(config, 128) < 64 * 2 ** 20, 'a 128-token session of fortune-llama');
    assert.ok(
      activationBytesFor(config, 1 << 20) > DEFAULT_ACTIVATION_RESERVE_BYTES,
      '1M tokens: capped by the default',
    );
    assert.ok(
      activationBytesFor(config, 256) > activationBytesFor(config, 128),
      'grows with the rows a pass can carry',
    );
  });
});
