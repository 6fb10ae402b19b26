/**
 * The Level-1 learner tools as a user runs them (real child processes, the bundled model):
 *   - `dhw generate --token-ids ... --json` reproduces the golden greedy continuation;
 *   - `dhw generate --chat --trace` prints every phase (tokenize, prefill, decode steps with KV bytes);
 *   - `dhw model inspect --json` reports the checkpoint's real numbers;
 *   - `dhw chat` answers a piped conversation and reuses the prefix cache on the second turn;
 *   - bad input gets a usage error naming the fix, not a stack trace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultModelDir, repoRoot } from '../../util/paths.ts';

const DHW = join(repoRoot, 'bin', 'dhw.mjs');

interface GoldenSample {
  messages: { role: string; content: string }[];
  prompt_ids: number[];
  greedy_ids: number[];
  greedy_text: string;
}
const samples: GoldenSample[] = JSON.parse(
  readFileSync(join(defaultModelDir, 'golden.json'), 'utf8'),
).samples;

function dhw(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [DHW, ...args], { input, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('generate --token-ids --json reproduces the golden greedy ids and text', () => {
  const sample = samples[0]!;
  const r = dhw([
    'generate',
    '--token-ids',
    sample.prompt_ids.join(','),
    '--temperature',
    '0',
    '--max-tokens',
    '200',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.deepEqual(last.prompt_token_ids, sample.prompt_ids);
  assert.deepEqual(last.token_ids, sample.greedy_ids, 'greedy ids end with EOS, as in the golden');
  assert.equal(last.finish_reason, 'stop');
  assert.equal(last.text, sample.greedy_text);
  assert.ok(last.timings.ttft_ms > 0 && last.timings.steps.length >= sample.greedy_ids.length);
});

test('generate --chat --trace shows tokenize, prefill and each decode step with KV bytes', () => {
  const sample = samples[1]!;
  const user = sample.messages.find((m) => m.role === 'user')!.content;
  const r = dhw(['generate', '--chat', user, '--trace', '--max-tokens', '5', '--ignore-eos']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\[tokenize\] +\d+ tokens/m);
  assert.match(
    r.stdout,
    /^\[prefill\] +\d+ tokens \(0 cached\) in .* KV \d+ tokens in \d+ blocks? .*allocated/m,
  );
  const decodeLines = r.stdout.split('\n').filter((l) => l.startsWith('[decode'));
  assert.equal(decodeLines.length, 4, 'the first token comes from prefill, then 4 decode steps');
  for (const line of decodeLines)
    assert.match(line, /token +\d+ .* step .* ms .* KV \d+ tokens in \d+ blocks? .*allocated/);
  assert.match(r.stdout, /^\[done\] +5 tokens, finish_reason=length/m);
});

test('model inspect --json reports parameters, shape and KV bytes per token', () => {
  const r = dhw(['model', 'inspect', defaultModelDir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.equal(d.architecture, 'LlamaForCausalLM');
  assert.equal(d.parameters, JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')).params);
  // 2 (K and V) × 6 layers × 4 KV heads × 32 head_dim × 4 bytes (fp32)
  assert.equal(d.kvBytesPerToken.fp32, 2 * 6 * 4 * 32 * 4);
  assert.equal(d.kvBytesAtFullContext.fp32, d.kvBytesPerToken.fp32 * d.contextLength);
});

test('chat answers a piped conversation and the second turn hits the prefix cache', () => {
  const r = dhw(
    ['chat', '--max-tokens', '12'],
    'Tell me a fortune about computers.\nAnother one, please.\n/exit\n',
  );
  assert.equal(r.code, 0, r.stderr);
  const summaries = [...r.stdout.matchAll(/\((\d+) prompt tokens, (\d+) cached, (\d+) generated/g)];
  assert.equal(summaries.length, 2, r.stdout);
  assert.equal(Number(summaries[0]![2]), 0);
  assert.ok(Number(summaries[1]![2]) > 0, 'the whole first turn is a cached prefix of the second');
});

test('bad input is a usage error naming the fix', () => {
  const ids = dhw(['generate', '--token-ids', '1,x']);
  assert.equal(ids.code, 2);
  assert.match(ids.stderr, /--token-ids must be comma-separated non-negative integers/);
  const missing = dhw(['generate', '/nonexistent-model', 'hello']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /No model at \/nonexistent-model: config.json is missing/);
  const unknown = dhw(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
});
