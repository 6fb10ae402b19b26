/**
 * Lab 1.4: streaming. Consumes `LlmEngine.generate()` token by token with arrival times (TTFT, ITL), then
 * shows why tokens cannot be decoded one at a time (multi-byte characters split across byte-level tokens)
 * and how the StreamingDetokenizer holds back incomplete characters, like a TCP reader buffering a partial
 * frame. Ends with the same deltas framed as OpenAI server-sent events.
 *
 * @expect First token after
 * @expect Streamed text matches golden.json
 * @expect /naive per-token decode: \d+ replacement characters/
 * @expect Streaming detokenizer output equals the full decode
 * @expect data: [DONE]
 * @expect Lab complete.
 */
import { LlmEngine } from '../../../src/engine/index.ts';
import { DEFAULT_SAMPLING } from '../../../src/protocols/engine.ts';
import { asRequestId } from '../../../src/protocols/ids.ts';
import type { ChatCompletionChunk } from '../../../src/protocols/openai.ts';
import { StreamingDetokenizer, Tokenizer } from '../../../src/tokens/index.ts';
import { defaultModelDir } from '../../../src/util/paths.ts';
import {
  argValue,
  banner,
  formatMs,
  isSmoke,
  note,
  printTable,
  runLab,
  step,
  visible,
} from '../../lib/lab-kit.ts';

const CUSTOM_PROMPT = argValue('prompt');
/** Default: golden.json's sample with a system prompt, so the streamed text can be checked against it. */
const MESSAGES = CUSTOM_PROMPT
  ? [{ role: 'user' as const, content: CUSTOM_PROMPT }]
  : [
      { role: 'system' as const, content: 'You are a fortune cookie.' },
      { role: 'user' as const, content: 'Share some wisdom on science.' },
    ];
const GOLDEN_TEXT =
  'The only thing that makes sense of thought that is that it is not.\n        -- Albert Einstein';
const MAX_TOKENS = isSmoke() ? 12 : 80;
const UNICODE_TEXT = 'Café ☕ 🎉 naïve';
const REPLACEMENT = '\uFFFD';

/**
 * GPT-2's byte-level alphabet: each of the 256 byte values gets a printable character, so a token string like
 * "Ã©" stands for the bytes C3 A9 ("é"). Inverting the map shows a token's raw bytes.
 */
function byteLevelDecoder(): Map<string, number> {
  const printable = [...range(0x21, 0x7e), ...range(0xa1, 0xac), ...range(0xae, 0xff)];
  const map = new Map<string, number>();
  let extra = 0;
  for (let byte = 0; byte < 256; byte++) {
    const code = printable.includes(byte) ? byte : 256 + extra++;
    map.set(String.fromCodePoint(code), byte);
  }
  return map;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function tokenBytes(tokenizer: Tokenizer, id: number, decoder: Map<string, number>): string {
  const token = tokenizer.idToToken(id) ?? '';
  return [...token].map((ch) => (decoder.get(ch) ?? 0).toString(16).toUpperCase().padStart(2, '0')).join(' ');
}

const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? 0;

async function main(): Promise<void> {
  banner('1.4', 'Streaming');
  const tokenizer = await Tokenizer.fromDir(defaultModelDir);
  const engine = await LlmEngine.create({ modelDir: defaultModelDir, numKvBlocks: 64 });
  const deltas: string[] = [];
  try {
    step(
      `Stream a response from the engine as it is produced (${MESSAGES.map((m) => `${m.role}: "${m.content}"`).join(', ')})`,
    );
    const promptText = tokenizer.applyChatTemplate(MESSAGES, { addGenerationPrompt: true });
    const promptIds = tokenizer.encode(promptText, { addSpecialTokens: false });
    const detokenizer = new StreamingDetokenizer(tokenizer, { promptIds, skipSpecialTokens: true });
    const request = {
      requestId: asRequestId('lab-1.4'),
      promptTokenIds: promptIds,
      sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
      // The caller lists the stop ids: the model's EOS ids (StoppingParams in src/protocols/engine.ts).
      stopping: { maxTokens: MAX_TOKENS, stopTokenIds: [...engine.info.eosTokenIds], ignoreEos: false },
    };
    const started = performance.now();
    const arrivals: number[] = [];
    process.stdout.write('  > ');
    for await (const output of engine.generate(request)) {
      arrivals.push(performance.now() - started);
      const text = detokenizer.push(output.tokenId) + (output.finishReason ? detokenizer.flush() : '');
      deltas.push(text);
      process.stdout.write(text.replaceAll('\n', '\n    '));
    }
    process.stdout.write('\n');
    const streamed = deltas.join('');
    if (!CUSTOM_PROMPT && !isSmoke() && streamed !== GOLDEN_TEXT) {
      throw new Error(`streamed "${visible(streamed)}", golden.json has "${visible(GOLDEN_TEXT)}"`);
    }
    if (!CUSTOM_PROMPT && !GOLDEN_TEXT.startsWith(streamed))
      throw new Error(`streamed "${visible(streamed)}" is not golden.json's text`);
    if (!CUSTOM_PROMPT) note(`Streamed text matches golden.json${isSmoke() ? ' (as far as it went)' : ''}.`);
    const gaps = arrivals.slice(1).map((t, i) => t - (arrivals[i] as number));
    note(
      `First token after ${formatMs(arrivals[0] ?? 0)} (TTFT, consumer side); ${arrivals.length} tokens in ${formatMs(arrivals.at(-1) ?? 0)}`,
    );
    printTable(
      ['ITL p50', 'ITL p90', 'ITL max', 'tokens/s after the first'],
      [
        [
          formatMs(percentile(gaps, 0.5)),
          formatMs(percentile(gaps, 0.9)),
          formatMs(Math.max(0, ...gaps)),
          gaps.length ? ((gaps.length / gaps.reduce((a, b) => a + b, 0)) * 1000).toFixed(0) : 'n/a',
        ],
      ],
    );
  } finally {
    await engine.close();
  }

  step(`Break it: decode "${UNICODE_TEXT}" one token at a time`);
  const ids = tokenizer.encode(UNICODE_TEXT, { addSpecialTokens: false });
  const decoder = byteLevelDecoder();
  const pieces = ids.map((id) => tokenizer.decode([id]));
  printTable(
    ['#', 'id', 'token bytes (hex)', 'decoded alone'],
    ids.map((id, i) => [i, id, tokenBytes(tokenizer, id, decoder), visible(pieces[i] as string)]),
  );
  const naive = pieces.join('');
  const full = tokenizer.decode(ids);
  const broken = [...naive].filter((ch) => ch === REPLACEMENT).length;
  note(
    `${UNICODE_TEXT.length} characters, ${Buffer.byteLength(UNICODE_TEXT)} UTF-8 bytes, ${ids.length} tokens`,
  );
  note(`naive per-token decode: ${broken} replacement characters: "${naive}"`);
  note(`full decode:            "${full}"`);

  step('Fix it: the StreamingDetokenizer holds back incomplete characters');
  const detokenizer = new StreamingDetokenizer(tokenizer);
  const rows = ids.map((id, i) => {
    const out = detokenizer.push(id);
    return [i, id, out === '' ? '(held back)' : `"${visible(out)}"`];
  });
  const flushed = detokenizer.flush();
  printTable(['#', 'id', 'push() returned'], rows);
  if (detokenizer.text !== full)
    throw new Error(`detokenizer produced "${detokenizer.text}", expected "${full}"`);
  note(`flush() returned "${flushed}"`);
  note('Streaming detokenizer output equals the full decode, byte for byte.');

  step('On the wire: the same deltas as OpenAI server-sent events');
  const shown = deltas.filter((d) => d !== '').slice(0, isSmoke() ? 3 : 5);
  for (const [i, content] of shown.entries()) {
    const chunk: ChatCompletionChunk = {
      id: 'chatcmpl-lab14',
      object: 'chat.completion.chunk',
      created: 0,
      model: 'fortune-llama',
      choices: [
        {
          index: 0,
          delta: i === 0 ? { role: 'assistant', content } : { content },
          logprobs: null,
          finish_reason: null,
        },
      ],
    };
    console.log(`  data: ${JSON.stringify(chunk)}\n`);
  }
  console.log('  ...\n  data: [DONE]');
  note('This is what `curl -N .../v1/chat/completions` shows with "stream": true.');
}

runLab(main);
