/**
 * n > 1 shares the prompt: choice 0 is prefilled alone, the other choices start once its blocks are in
 * the worker's prefix cache, so their prompts are prefix hits. A fresh worker whose only request is one
 * n = 4 completion shows it in its prefix-cache hit rate (hit tokens / looked-up tokens since start).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { metricValue, quietLogs, startTestServer, type TestServer } from './testing/frontend-kit.ts';

quietLogs();

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => {
  await ts?.close();
});

test('n = 4: the prompt is computed once, the other three choices find its full blocks cached', async (t) => {
  const client = new OpenAI({ baseURL: ts.baseURL, apiKey: 'x', maxRetries: 0 });
  const prompt = `${'A fortune about parallel sampling and shared blocks. '.repeat(10)}Tell me:`;
  const promptTokens = ts.tokenizer.encode(prompt).length;
  const n = 4;
  const res = await client.completions.create({
    model: 'fortune-llama',
    prompt,
    temperature: 1,
    max_tokens: 4,
    n,
  });
  assert.equal(res.choices.length, n);
  assert.equal(res.usage?.prompt_tokens, promptTokens);
  assert.equal(res.usage?.prompt_tokens_details?.cached_tokens, 0, 'choice 0 found nothing cached: it paid');

  const blockSize = 16; // the worker's default KV block size
  const sharedPerChoice = Math.floor((promptTokens - 1) / blockSize) * blockSize;
  const rate = metricValue(await ts.worker.metrics(), 'dynamo_component_kvstats_gpu_prefix_cache_hit_rate');
  // Choices 1..3 each hit every full block of the prompt; the health canary's own prompts (if it ran)
  // only add looked-up tokens, so the rate can be lower than this, but not by much.
  const expected = ((n - 1) * sharedPerChoice) / (n * promptTokens);
  t.diagnostic(
    `prompt ${promptTokens} tokens; prefix-cache hit rate ${rate.toFixed(3)} (expected ${expected.toFixed(3)})`,
  );
  assert.ok(expected > 0.6, `the prompt spans several blocks (${promptTokens} tokens)`);
  assert.ok(
    rate > expected * 0.8,
    `prefix-cache hit rate ${rate.toFixed(3)}, expected about ${expected.toFixed(3)}`,
  );
});
