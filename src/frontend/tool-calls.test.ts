import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChatCompletionRequest } from '../protocols/openai.ts';
import { readTokenizerFiles, Tokenizer } from '../tokens/index.ts';
import { defaultModelDir } from '../util/paths.ts';
import {
  parseForcedCalls,
  parseHermesCalls,
  templateMessage,
  templateRendersTools,
  toolModeOf,
} from './tool-calls.ts';

/** A Hermes-style template (as Qwen's): tools in the system turn, calls as <tool_call> JSON. */
const HERMES_TEMPLATE =
  '{% if tools %}<|im_start|>system\n# Tools\n<tools>{% for t in tools %}{{ t.function | tojson }}{% endfor %}</tools><|im_end|>\n{% endif %}' +
  "{% for m in messages %}{{ '<|im_start|>' + m.role + '\n' + (m.content or '') + '<|im_end|>\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

async function tokenizerWith(template?: string): Promise<Tokenizer> {
  const files = await readTokenizerFiles(defaultModelDir);
  if (template) files.chatTemplate = { kind: 'template', template, origin: 'test' };
  return Tokenizer.fromFiles(files);
}

const tool = {
  name: 'get_fortune',
  parameters: { type: 'object', properties: { topic: { type: 'string' } } },
};
const messages = [{ role: 'user', content: 'a fortune about cats' }];
const body = (over: Partial<ChatCompletionRequest>) =>
  ({ messages, stop: [], n: 1, parallel_tool_calls: true, ...over }) as ChatCompletionRequest;

test("a template that renders tools has a tool format; the bundled model's does not (auto is a 400)", async () => {
  const hermes = await tokenizerWith(HERMES_TEMPLATE);
  const bundled = await tokenizerWith();
  assert.equal(templateRendersTools(hermes, messages, [tool]), true);
  assert.equal(templateRendersTools(bundled, messages, [tool]), false);
  assert.equal(toolModeOf(body({ tools: [tool] }), hermes, messages).kind, 'auto');
  assert.throws(
    () => toolModeOf(body({ tools: [tool] }), bundled, messages),
    (err: Error & { param?: string }) => err.param === 'tools' && /no tool format/.test(err.message),
  );
  assert.equal(toolModeOf(body({ tools: [tool], tool_choice: 'none' }), bundled, messages).kind, 'none');
  const named = toolModeOf(
    body({ tools: [tool], tool_choice: { type: 'function', function: { name: 'get_fortune' } } }),
    bundled,
    messages,
  );
  assert.equal(named.kind, 'forced');
  assert.deepEqual(JSON.parse(named.kind === 'forced' ? named.schema : '').properties.name, {
    type: 'string',
    enum: ['get_fortune'],
  });
  const required = toolModeOf(
    body({ tools: [tool, { name: 'b' }], tool_choice: 'required', parallel_tool_calls: false }),
    bundled,
    messages,
  );
  assert.equal(required.kind === 'forced' && JSON.parse(required.schema).maxItems, 1);
});

test('Hermes-style calls are parsed out of the text; what is not a call stays content', () => {
  const text =
    'Let me look.\n<tool_call>\n{"name": "get_fortune", "arguments": {"topic": "cats"}}\n</tool_call>\n' +
    '<tool_call>{"name": "b", "arguments": {}}</tool_call>';
  const { content, calls } = parseHermesCalls(text);
  assert.equal(content, 'Let me look.');
  assert.deepEqual(
    calls.map((c) => [c.type, c.function.name, JSON.parse(c.function.arguments)]),
    [
      ['function', 'get_fortune', { topic: 'cats' }],
      ['function', 'b', {}],
    ],
  );
  assert.match(calls[0].id, /^call_[0-9a-f]{24}$/);
  assert.deepEqual(parseHermesCalls('<tool_call>{"name": "x"}</tool_call>').content, null);
  assert.deepEqual(parseHermesCalls('no calls <tool_call>not json</tool_call>'), {
    content: 'no calls <tool_call>not json</tool_call>',
    calls: [],
  });
  assert.deepEqual(parseForcedCalls('{"name": "a", "arguments": {"x": 1}}')[0]?.function, {
    name: 'a',
    arguments: '{"x":1}',
  });
  assert.deepEqual(
    parseForcedCalls('[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {}}]').length,
    2,
  );
  assert.deepEqual(parseForcedCalls('{"name": "a", "argu'), [], 'cut by max_tokens: no call');
});

test("an assistant's earlier tool calls reach the template with arguments as objects", () => {
  const message = templateMessage({
    role: 'assistant',
    content: '',
    tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'a', arguments: '{"x": 1}' } }],
  });
  assert.deepEqual((message.tool_calls as { function: { arguments: unknown } }[])[0].function.arguments, {
    x: 1,
  });
});
