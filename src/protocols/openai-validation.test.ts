import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidRequestError } from './errors.ts';
import { parseChatCompletionRequest, parseCompletionRequest } from './openai-validation.ts';

const chat = (extra: Record<string, unknown>) => ({ messages: [{ role: 'user', content: 'hi' }], ...extra });

/** Asserts the body is rejected and the error names `param`. */
function rejects(
  parse: (b: unknown) => unknown,
  body: unknown,
  param: string | null,
  pattern?: RegExp,
): void {
  assert.throws(
    () => parse(body),
    (err: unknown) => {
      assert.ok(err instanceof InvalidRequestError, `expected InvalidRequestError, got ${String(err)}`);
      assert.equal(err.param, param);
      if (pattern) assert.match(err.message, pattern);
      return true;
    },
  );
}

test('a minimal chat request gets defaults; null counts as absent; unknown fields are ignored', () => {
  const req = parseChatCompletionRequest(chat({ temperature: null, frobnicate: 7 }));
  assert.deepEqual(req.messages, [{ role: 'user', content: 'hi' }]);
  assert.equal(req.temperature, undefined);
  assert.equal(req.stream, false);
  assert.equal(req.n, 1);
  assert.deepEqual(req.stop, []);
  assert.equal(req.skip_special_tokens, true);
  assert.equal(req.logprobs, false);
  assert.equal('frobnicate' in req, false);
});

test('chat fields are read and normalized', () => {
  const req = parseChatCompletionRequest({
    model: 'm',
    messages: [
      {
        role: 'system',
        content: [
          { type: 'text', text: 'a' },
          { type: 'text', text: 'b' },
        ],
      },
      { role: 'assistant', content: null },
      { role: 'tool', content: 'r', tool_call_id: 't1' },
    ],
    max_tokens: 5,
    max_completion_tokens: 7,
    stop: 'END',
    stream: true,
    stream_options: { include_usage: true },
    logprobs: true,
    top_logprobs: 3,
    top_k: -1,
    seed: 42,
  });
  assert.deepEqual(req.messages, [
    { role: 'system', content: 'a\nb' },
    { role: 'assistant', content: '' },
    { role: 'tool', content: 'r', tool_call_id: 't1' },
  ]);
  assert.equal(req.max_tokens, 7, 'max_completion_tokens wins over max_tokens');
  assert.deepEqual(req.stop, ['END']);
  assert.deepEqual(req.stream_options, { include_usage: true });
  assert.equal(req.top_logprobs, 3);
  assert.equal(req.top_k, -1);
});

test('chat requests with wrong types or ranges are rejected naming the field', () => {
  const p = parseChatCompletionRequest;
  rejects(p, [1, 2], null, /JSON object/);
  rejects(p, {}, 'messages');
  rejects(p, { messages: [] }, 'messages');
  rejects(p, { messages: ['hi'] }, 'messages[0]');
  rejects(p, { messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role', /system, user/);
  rejects(p, { messages: [{ role: 'user', content: 5 }] }, 'messages[0].content');
  rejects(p, { messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }, 'messages[0].content[0]');
  rejects(p, chat({ temperature: 'hot' }), 'temperature', /between|>= 0/);
  rejects(p, chat({ temperature: 2.5 }), 'temperature');
  rejects(p, chat({ top_p: 0 }), 'top_p');
  rejects(p, chat({ n: 0 }), 'n');
  rejects(p, chat({ n: 129 }), 'n', /<= 128/);
  rejects(p, chat({ max_tokens: -1 }), 'max_tokens');
  rejects(p, chat({ max_tokens: 1.5 }), 'max_tokens', /integer/);
  rejects(p, chat({ max_completion_tokens: '10' }), 'max_completion_tokens');
  rejects(p, chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), 'stop', /at most 4/);
  rejects(p, chat({ stop: [1] }), 'stop');
  rejects(p, chat({ stream: 'yes' }), 'stream');
  rejects(p, chat({ stream_options: { include_usage: 1 } }), 'stream_options.include_usage');
  rejects(p, chat({ presence_penalty: 3 }), 'presence_penalty');
  rejects(p, chat({ frequency_penalty: -2.1 }), 'frequency_penalty');
  rejects(p, chat({ logprobs: 1 }), 'logprobs');
  rejects(p, chat({ logprobs: true, top_logprobs: 21 }), 'top_logprobs');
  rejects(p, chat({ top_logprobs: 2 }), 'top_logprobs', /logprobs/);
  rejects(p, chat({ stop_token_ids: [1, -2] }), 'stop_token_ids');
  rejects(p, chat({ repetition_penalty: 0 }), 'repetition_penalty');
  rejects(p, chat({ seed: 1.5 }), 'seed');
});

test('completion prompts: text, token ids, and single-element batches', () => {
  assert.equal(parseCompletionRequest({ prompt: 'abc' }).prompt, 'abc');
  assert.deepEqual(parseCompletionRequest({ prompt: [1, 2, 3] }).prompt, [1, 2, 3]);
  assert.equal(parseCompletionRequest({ prompt: ['only'] }).prompt, 'only');
  assert.deepEqual(parseCompletionRequest({ prompt: [[4, 5]] }).prompt, [4, 5]);
  assert.equal(parseCompletionRequest({ prompt: 'x', logprobs: 5 }).logprobs, 5);
});

test('bad completion prompts and logprobs are rejected', () => {
  const p = parseCompletionRequest;
  rejects(p, {}, 'prompt', /required/);
  rejects(p, { prompt: ['a', 'b'] }, 'prompt', /batched prompts/);
  rejects(p, { prompt: [[1], [2]] }, 'prompt', /batched prompts/);
  rejects(p, { prompt: [] }, 'prompt');
  rejects(p, { prompt: [1, -1] }, 'prompt');
  rejects(p, { prompt: 42 }, 'prompt');
  rejects(p, { prompt: 'x', logprobs: 6 }, 'logprobs');
  rejects(p, { prompt: 'x', logprobs: true }, 'logprobs');
});

test('OpenAI fields this server cannot honour are 400s naming them; the others are read', () => {
  const p = parseChatCompletionRequest;
  rejects(p, chat({ audio: {} }), 'audio', /text only/);
  rejects(p, chat({ prediction: { type: 'content', content: 'x' } }), 'prediction');
  rejects(p, chat({ functions: [] }), 'functions', /use 'tools'/);
  rejects(p, chat({ store: true }), 'store', /does not store/);
  rejects(p, chat({ service_tier: 'flex' }), 'service_tier');
  rejects(p, chat({ modalities: ['text', 'audio'] }), 'modalities');
  rejects(p, chat({ metadata: 'x' }), 'metadata', /object/);
  rejects(p, chat({ stream_options: { include_usage: 1 } }), 'stream_options.include_usage');
  rejects(p, chat({ logit_bias: { abc: 1 } }), 'logit_bias', /token ids/);
  rejects(p, chat({ logit_bias: { 5: 101 } }), 'logit_bias', /-100 to 100/);
  rejects(p, chat({ tools: 'x' }), 'tools', /array/);
  rejects(p, chat({ tools: [{ type: 'web' }] }), 'tools[0]', /function/);
  rejects(p, chat({ tools: [{ type: 'function', function: { name: 'a b' } }] }), 'tools[0].function.name');
  rejects(p, chat({ tool_choice: 'required' }), 'tool_choice', /needs 'tools'/);
  const tool = { type: 'function', function: { name: 'get', parameters: { type: 'object' } } };
  rejects(
    p,
    chat({ tools: [tool], tool_choice: { type: 'function', function: { name: 'x' } } }),
    'tool_choice.function.name',
  );
  rejects(p, chat({ response_format: { type: 'yaml' } }), 'response_format.type');
  rejects(p, chat({ response_format: { type: 'json_schema' } }), 'response_format.json_schema');
  rejects(
    p,
    chat({ response_format: { type: 'json_schema', json_schema: { name: 'a b' } } }),
    'response_format.json_schema.name',
  );
  rejects(parseCompletionRequest, { prompt: 'x', suffix: 'y' }, 'suffix', /fill-in-the-middle/);
  rejects(parseCompletionRequest, { prompt: 'x', n: 2, best_of: 3 }, 'best_of', /must equal 'n'/);

  const req = p(
    chat({
      n: 3,
      store: false,
      service_tier: 'auto',
      modalities: ['text'],
      metadata: { a: 'b' },
      logit_bias: { 7: -100, 3: 2.5 },
      tools: [tool],
      tool_choice: 'auto',
      response_format: { type: 'json_object' },
    }),
  );
  assert.equal(req.n, 3);
  assert.deepEqual(req.logit_bias, [
    [3, 2.5],
    [7, -100],
  ]);
  assert.deepEqual(req.tools, [{ name: 'get', parameters: { type: 'object' } }]);
  assert.equal(req.tool_choice, 'auto');
  assert.deepEqual(req.response_format, { type: 'json_object' });
  const completion = parseCompletionRequest({ prompt: 'x', echo: true, n: 2, best_of: 2 });
  assert.equal(completion.echo, true);
  assert.equal(completion.n, 2);
});
