/**
 * OpenAI API completeness, as the official `openai` client sees it, against a real frontend and a real
 * `dhw worker` (fortune-llama, the from-scratch engine): models.retrieve, `param` naming the wrong field,
 * system_fingerprint / refusal / completion_tokens_details, the chosen token in completions'
 * top_logprobs, logit_bias, echo, n > 1 (streaming and not; the prompt's KV blocks shared), and 400s for
 * what this server cannot honour.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import {
  type GoldenSample,
  goldenSamples,
  quietLogs,
  startTestServer,
  type TestServer,
} from './testing/frontend-kit.ts';

quietLogs();

let ts: TestServer;
let client: OpenAI;
let golden: GoldenSample;

before(async () => {
  ts = await startTestServer();
  client = new OpenAI({ baseURL: ts.baseURL, apiKey: 'x', maxRetries: 0 });
  golden = goldenSamples()[0];
});
after(async () => {
  await ts?.close();
});

/** The client's error for a rejected request: status, and OpenAI's `param`. */
async function rejection(call: () => Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call();
  } catch (err) {
    assert.ok(err instanceof OpenAI.APIError, `expected an APIError, got ${String(err)}`);
    return err;
  }
  assert.fail('the request was accepted');
}

test('models.retrieve: the served model by name, 404 model_not_found otherwise', async () => {
  const model = await client.models.retrieve('fortune-llama');
  assert.equal(model.id, 'fortune-llama');
  assert.equal(model.object, 'model');
  const missing = await rejection(() => client.models.retrieve('no-such/model'));
  assert.equal(missing.status, 404);
  assert.equal(missing.code, 'model_not_found');
});

test('a prompt too long names the field it came from: prompt on completions, messages on chat', async () => {
  const long = 'fortune '.repeat(ts.contextLength * 2);
  const completion = await rejection(() =>
    client.completions.create({ model: 'fortune-llama', prompt: long }),
  );
  assert.equal(completion.status, 400);
  assert.equal(completion.param, 'prompt');
  assert.equal(completion.code, 'context_length_exceeded');
  const chat = await rejection(() =>
    client.chat.completions.create({ model: 'fortune-llama', messages: [{ role: 'user', content: long }] }),
  );
  assert.equal(chat.param, 'messages');
});

test('system_fingerprint, refusal and completion_tokens_details are where OpenAI has them', async () => {
  const chat = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
    max_tokens: 4,
  });
  assert.match(chat.system_fingerprint ?? '', /^fp_[0-9a-f]{10}$/);
  assert.equal(chat.choices[0].message.refusal, null);
  assert.deepEqual(chat.usage?.completion_tokens_details, {
    reasoning_tokens: 0,
    audio_tokens: 0,
    accepted_prediction_tokens: 0,
    rejected_prediction_tokens: 0,
  });
  const stream = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
    max_tokens: 4,
    stream: true,
  });
  for await (const chunk of stream) assert.equal(chunk.system_fingerprint, chat.system_fingerprint);
  const completion = await client.completions.create({ model: 'fortune-llama', prompt: 'x', max_tokens: 2 });
  assert.equal(completion.system_fingerprint, chat.system_fingerprint);
});

test("completions' top_logprobs always hold the chosen token, sampled from outside the top or not", async () => {
  const res = await client.completions.create({
    model: 'fortune-llama',
    prompt: golden.prompt,
    temperature: 1.5,
    seed: 11,
    max_tokens: 24,
    logprobs: 1,
  });
  const lp = res.choices[0].logprobs;
  assert.ok(lp?.tokens && lp.top_logprobs && lp.token_logprobs);
  lp.tokens.forEach((token, i) => {
    assert.equal(lp.top_logprobs?.[i]?.[token], lp.token_logprobs?.[i], `position ${i}`);
  });
  assert.ok(
    lp.top_logprobs.some((top) => Object.keys(top).length === 2),
    'at temperature 1.5 some token was not the single most likely one',
  );
});

test('logit_bias: -100 bans the greedy first token, +100 forces a token at every step', async () => {
  const [first] = golden.greedy_ids;
  const banned = await client.completions.create({
    model: 'fortune-llama',
    prompt: golden.prompt_ids,
    temperature: 0,
    max_tokens: 3,
    logprobs: 0,
    logit_bias: { [first]: -100 },
  });
  const unbiased = await client.completions.create({
    model: 'fortune-llama',
    prompt: golden.prompt_ids,
    temperature: 0,
    max_tokens: 3,
    logprobs: 0,
  });
  assert.equal(unbiased.choices[0].logprobs?.tokens?.[0], ts.tokenizer.decode([first]));
  assert.notEqual(banned.choices[0].logprobs?.tokens?.[0], ts.tokenizer.decode([first]));
  const forcedId = golden.greedy_ids[golden.greedy_ids.length - 1] === 300 ? 301 : 300;
  const forced = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 1,
    max_tokens: 5,
    logit_bias: { [forcedId]: 100 },
  });
  assert.equal(forced.choices[0].message.content, ts.tokenizer.decode(Array(5).fill(forcedId)));
  const bad = await rejection(() =>
    client.chat.completions.create({
      model: 'fortune-llama',
      messages: golden.messages,
      logit_bias: { [ts.tokenizer.vocabSize + 5]: 1 },
    }),
  );
  assert.equal(bad.param, 'logit_bias');
});

test('echo: the prompt comes back before the completion, whole or as the first chunk', async () => {
  const res = await client.completions.create({
    model: 'fortune-llama',
    prompt: golden.prompt,
    temperature: 0,
    echo: true,
  });
  assert.equal(res.choices[0].text, golden.prompt + golden.greedy_text);
  const stream = await client.completions.create({
    model: 'fortune-llama',
    prompt: golden.prompt,
    temperature: 0,
    echo: true,
    stream: true,
  });
  const texts: string[] = [];
  for await (const chunk of stream) texts.push(chunk.choices[0]?.text ?? '');
  assert.equal(texts[0], golden.prompt);
  assert.equal(texts.join(''), golden.prompt + golden.greedy_text);
});

test('echo + logprobs: the prompt tokens scored first (the first null), then the completion', async () => {
  const request = {
    model: 'fortune-llama',
    prompt: golden.prompt,
    temperature: 0,
    max_tokens: 6,
    logprobs: 2,
  };
  const plain = await client.completions.create(request);
  const echoed = await client.completions.create({ ...request, echo: true });
  const lp = echoed.choices[0].logprobs!;
  const numPrompt = echoed.usage!.prompt_tokens;
  const numGenerated = plain.choices[0].logprobs!.tokens!.length;
  assert.equal(echoed.choices[0].text, golden.prompt + plain.choices[0].text);
  assert.equal(lp.tokens!.length, numPrompt + numGenerated);
  assert.equal(lp.token_logprobs![0], null);
  assert.equal(lp.top_logprobs![0], null);
  for (let i = 1; i < numPrompt; i++) {
    const logprob = lp.token_logprobs![i]!;
    assert.ok(logprob <= 0, `prompt token ${i}: ${logprob}`);
    const top = lp.top_logprobs![i]!;
    assert.equal(top[lp.tokens![i]!], logprob, 'the prompt token is among its alternatives');
    assert.ok(Object.keys(top).length >= 2);
  }
  // The prompt's tokens spell the echoed prompt; the completion's offsets continue after it.
  assert.equal(lp.tokens!.slice(0, numPrompt).join('').trim(), golden.prompt.trim());
  assert.equal(lp.text_offset![0], 0);
  assert.equal(lp.text_offset![numPrompt], golden.prompt.length);
  // Scoring the prompt does not change the completion or its logprobs.
  assert.deepEqual(lp.tokens!.slice(numPrompt), plain.choices[0].logprobs!.tokens);
  assert.deepEqual(lp.token_logprobs!.slice(numPrompt), plain.choices[0].logprobs!.token_logprobs);

  // Streaming: the echoed text first, then the prompt's scores with the first generated token.
  const stream = await client.completions.create({ ...request, echo: true, stream: true });
  const tokens: string[] = [];
  const logprobs: (number | null)[] = [];
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (!choice?.logprobs) continue;
    tokens.push(...choice.logprobs.tokens!);
    logprobs.push(...(choice.logprobs.token_logprobs as (number | null)[]));
  }
  assert.deepEqual(tokens, lp.tokens);
  assert.deepEqual(logprobs, lp.token_logprobs);
});

test("vLLM's prompt_logprobs: token id → {logprob, rank, decoded_token} per prompt position", async () => {
  const post = async (extra: object) => {
    const res = await fetch(`${ts.baseURL}/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'fortune-llama',
        prompt: golden.prompt,
        max_tokens: 3,
        temperature: 0,
        ...extra,
      }),
    });
    assert.equal(res.status, 200);
    return (await res.json()) as {
      choices: {
        logprobs: {
          tokens: string[];
          token_logprobs: (number | null)[];
          top_logprobs: (object | null)[];
        } | null;
        prompt_logprobs?: (Record<string, { logprob: number; rank: number; decoded_token: string }> | null)[];
      }[];
      usage: { prompt_tokens: number };
    };
  };
  // Both asks at once: echo's top lists keep its own count (1), prompt_logprobs its own (3).
  const both = await post({ echo: true, logprobs: 1, prompt_logprobs: 3 });
  const choice = both.choices[0]!;
  const scores = choice.prompt_logprobs!;
  assert.equal(scores.length, both.usage.prompt_tokens);
  assert.equal(scores[0], null);
  for (let i = 1; i < scores.length; i++) {
    const entry = scores[i]!;
    // Keys are token ids (JSON objects order them numerically): find the prompt token by echo's score.
    const own = Object.values(entry).find(
      (e) =>
        e.logprob === choice.logprobs!.token_logprobs[i] && e.decoded_token === choice.logprobs!.tokens[i],
    );
    assert.ok(own, `position ${i}: the prompt token with echo's score: ${JSON.stringify(entry)}`);
    assert.ok(own.rank >= 1);
    const ranks = Object.values(entry).map((e) => e.rank);
    assert.ok(ranks.includes(1) && ranks.includes(3) && ranks.length <= 4, JSON.stringify(entry));
    assert.ok(Object.keys(choice.logprobs!.top_logprobs[i]!).length <= 2);
  }
  // Alone: the field, no logprobs, the same completion as without it.
  const alone = await post({ prompt_logprobs: 0 });
  const plain = await post({});
  assert.equal(alone.choices[0]!.logprobs, null);
  assert.equal(alone.choices[0]!.prompt_logprobs!.length, plain.usage.prompt_tokens);
  assert.equal(plain.choices[0]!.prompt_logprobs, undefined);
});

test('n > 1: n choices with their own index, usage summed, streaming equal to non-streaming', async () => {
  const request = {
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 1,
    seed: 5,
    max_tokens: 12,
    n: 3,
    logprobs: true,
  } as const;
  const res = await client.chat.completions.create(request);
  assert.deepEqual(
    res.choices.map((c) => c.index),
    [0, 1, 2],
  );
  const tokens = res.choices.map((c) => c.logprobs?.content?.length ?? 0);
  assert.equal(res.usage?.completion_tokens, tokens[0] + tokens[1] + tokens[2]);
  assert.equal(res.usage?.prompt_tokens, golden.prompt_ids.length, 'the prompt is counted once');
  const texts = res.choices.map((c) => c.message.content);
  assert.ok(new Set(texts).size > 1, `seeded choices differ from each other: ${JSON.stringify(texts)}`);

  const again = await client.chat.completions.create(request);
  assert.deepEqual(
    again.choices.map((c) => c.message.content),
    texts,
    'the same seed repeats every choice',
  );
  const stream = await client.chat.completions.create({
    ...request,
    stream: true,
    stream_options: { include_usage: true },
  });
  const streamed = ['', '', ''];
  const finished: (string | null)[] = [null, null, null];
  let usage: OpenAI.CompletionUsage | null | undefined;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      streamed[c.index] += c.delta.content ?? '';
      if (c.finish_reason) finished[c.index] = c.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.deepEqual(streamed, texts);
  assert.ok(finished.every((f) => f !== null));
  assert.equal(usage?.completion_tokens, res.usage?.completion_tokens);

  const completions = await client.completions.create({
    model: 'fortune-llama',
    prompt: golden.prompt,
    temperature: 0,
    n: 2,
  });
  assert.deepEqual(
    completions.choices.map((c) => [c.index, c.text]),
    [
      [0, golden.greedy_text],
      [1, golden.greedy_text],
    ],
  );
});

test('what this server cannot honour is a 400 naming the field, through the client', async () => {
  const cases: [string, () => Promise<unknown>][] = [
    [
      'audio',
      () =>
        client.chat.completions.create({
          model: 'fortune-llama',
          messages: golden.messages,
          audio: { voice: 'alloy', format: 'wav' },
        }),
    ],
    ['suffix', () => client.completions.create({ model: 'fortune-llama', prompt: 'x', suffix: 'y' })],
    [
      'store',
      () =>
        client.chat.completions.create({ model: 'fortune-llama', messages: golden.messages, store: true }),
    ],
  ];
  for (const [param, call] of cases) {
    const err = await rejection(call);
    assert.equal(err.status, 400, param);
    assert.equal(err.param, param);
  }
});
