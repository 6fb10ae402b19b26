/**
 * `measureQ8SingleStream` (the engine behind `npm run bench:q8`) on the bundled model without llama.cpp:
 * both of our q8_0 kernels are measured, the ratio is absent, and the memory report shows q8_0 matrices at
 * ~1.125 bytes per weight against f32's 4. Never asserts timings: only that they are positive numbers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultModelDir, repoRoot } from '../src/util/paths.ts';
import { measureQ8SingleStream, OURS_F32_ACT, OURS_INT } from './lib/engine-q8.ts';

const isPositive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;

test('measureQ8SingleStream reports both q8_0 kernels and the memory per model', async () => {
  const r = await measureQ8SingleStream({
    dir: defaultModelDir,
    cacheDir: `${repoRoot}/.dhw/bench-models`,
    threads: 1,
    decodeTokens: 3,
    repeats: 1,
    llama: null,
    relaxedSimd: true,
  });
  assert.deepEqual(Object.keys(r.tokensPerSec).sort(), [OURS_F32_ACT, OURS_INT].sort());
  for (const label of [OURS_INT, OURS_F32_ACT]) {
    assert.ok(isPositive(r.tokensPerSec[label]), `${label} tok/s`);
    assert.ok(isPositive(r.tokensPerCpuSec[label]), `${label} tokens per CPU-second`);
  }
  assert.equal(r.ratio, null);
  assert.equal(r.gguf, null, 'no GGUF is written without llama.cpp');
  const perWeight = r.memory.q8MatrixBytes / r.memory.f32MatrixBytes;
  assert.ok(perWeight > 1 / 4 && perWeight < 1.2 / 4, `q8_0 / f32 matrix bytes ${perWeight}`);
  for (const rss of [r.memory.f32Rss, r.memory.q8Rss])
    assert.ok(isPositive(rss.rssBytes) && rss.peakRssBytes >= rss.rssBytes && isPositive(rss.baseRssBytes));
});
