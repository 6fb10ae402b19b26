import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LlamaModel } from '../forward.ts';
import { SequenceSession } from '../sequence-session.ts';
import { defaultModelDir } from '../../util/paths.ts';
import { SharedArena } from './arena.ts';

describe('SharedArena', () => {
  it('owns every view it hands out, even after another arena of the process grew (V8 then replaces its buffer object)', () => {
    const a = new SharedArena(1 << 16);
    const b = new SharedArena(1 << 16);
    const early = b.allocF32(16);
    const bufferBefore = b.memory.buffer;
    a.allocF32(1 << 20); // grows a's memory: V8 hands b's memory a new buffer object too
    const late = b.allocF32(16);
    const control = b.control();
    assert.ok(b.owns(early) && b.owns(late) && b.owns(control), 'views of b made before and after a grew');
    assert.ok(
      !a.owns(late) && !b.owns(new Float32Array(16)),
      'a view of another memory or of plain memory is not owned',
    );
    // The scenario this guards: the buffer object really is replaced on this runtime (if not, the test
    // still checks ownership, which must hold either way).
    if (b.memory.buffer === bufferBefore) console.log('# this runtime kept the buffer object');
  });

  it('owns views made after its own growth', () => {
    const arena = new SharedArena(1 << 16);
    const views = [arena.allocF32(1 << 18), arena.allocI32(8), arena.allocI8(100), arena.allocU8(1 << 19)];
    for (const view of views) assert.ok(arena.owns(view));
  });
});

describe('two models in one process', () => {
  it('a session of one model keeps its KV cache on the SIMD path and its logits after the other model grew its arena', async () => {
    const [first, second] = await Promise.all([
      LlamaModel.load(defaultModelDir),
      LlamaModel.load(defaultModelDir),
    ]);
    try {
      const prompt = [1, 450, 1900, 982, 304, 3, 77, 88, 99];
      const logitsBits = (model: LlamaModel): Uint32Array => {
        const session = new SequenceSession(model, { maxTokens: 64 });
        const logits = session.feed(prompt, 'all');
        return new Uint32Array(logits.buffer, logits.byteOffset, logits.length);
      };
      const before = logitsBits(second);
      // A KV cache big enough to grow the first model's arena (that replaces the second's buffer object).
      first.allocateKvCache(2048, 16);
      const session = new SequenceSession(second, { maxTokens: 64 });
      assert.ok(
        session.kv.key[0]!.buffer instanceof SharedArrayBuffer,
        'the KV cache is in the kernel arena',
      );
      assert.deepEqual(logitsBits(second), before, 'the same bits as before the other arena grew');
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });
});
