/**
 * Our per-token logprobs in OpenAI's two shapes. Chat: a list of {token, logprob, bytes, top_logprobs}.
 * Completions (the legacy shape): parallel arrays, plus each token's character offset in the text.
 */
import type { ChatLogprobs, ChatTopLogprob, CompletionLogprobs } from '../../protocols/openai.ts';
import type { PromptLogprobText, TokenLogprobText } from '../text-stream.ts';

const utf8 = new TextEncoder();

function chatEntry(token: string, logprob: number): ChatTopLogprob {
  return { token, logprob, bytes: [...utf8.encode(token)] };
}

export function chatLogprobs(entries: readonly TokenLogprobText[]): ChatLogprobs {
  return {
    content: entries.map((e) => ({
      ...chatEntry(e.token, e.logprob),
      top_logprobs: e.top.map((t) => chatEntry(t.token, t.logprob)),
    })),
  };
}

/**
 * `startOffset` is where this batch of tokens starts in the whole returned text (0 for a full response,
 * the running text length for a stream chunk), so offsets stay absolute across chunks.
 */
export function completionLogprobs(
  entries: readonly (TokenLogprobText | PromptLogprobText)[],
  startOffset: number,
): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let offset = startOffset;
  for (const e of entries) {
    out.tokens.push(e.token);
    out.token_logprobs.push(e.logprob);
    if (e.logprob === null || e.top === null) {
      // The first prompt token of an echo: nothing before it to predict it (OpenAI and vLLM send null).
      out.top_logprobs.push(null);
      out.text_offset.push(offset);
      offset += e.token.length;
      continue;
    }
    // The chosen token is always among the alternatives, as OpenAI and vLLM return it (it may have
    // been sampled from outside the top n).
    const top = Object.fromEntries(e.top.map((t) => [t.token, t.logprob]));
    if (!(e.token in top)) top[e.token] = e.logprob;
    out.top_logprobs.push(top);
    out.text_offset.push(offset);
    offset += e.token.length;
  }
  return out;
}
