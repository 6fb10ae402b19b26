/**
 * POST /tokenize and POST /detokenize (vLLM's endpoints, same shapes): what the frontend's preprocessor
 * would make of a prompt or a chat, without generating. A chat is rendered through the model's template
 * exactly as /v1/chat/completions renders it, so `count` is the `usage.prompt_tokens` that request would
 * report, and `max_model_len` tells a client how much room is left. Like `nginx -T` for a request: show
 * what the proxy would send upstream.
 */
import {
  type DetokenizeResponse,
  parseDetokenizeRequest,
  parseTokenizeRequest,
  type TokenizeResponse,
} from '../../protocols/tokenize.ts';
import { InvalidRequestError } from '../../util/errors.ts';
import { readJsonBody } from '../body.ts';
import { type RequestContext, type ServerState, sendJson } from '../request-context.ts';
import { resolveModel } from './model-check.ts';

export async function handleTokenize(server: ServerState, ctx: RequestContext): Promise<void> {
  const body = parseTokenizeRequest(await readJsonBody(ctx.req, server.maxBodyBytes));
  const model = resolveModel(server, ctx, body.model);
  const { tokenizer } = model;
  // Long texts are tokenized on a tokenizer thread, as for generation (no context bound: counting is the point).
  const tokens =
    body.kind === 'chat'
      ? await server.prompts.chatUnbounded(model, body.messages, {
          addGenerationPrompt: body.add_generation_prompt,
          addSpecialTokens: body.add_special_tokens,
        })
      : await server.prompts.textUnbounded(model, body.prompt, body.add_special_tokens);
  const response: TokenizeResponse = {
    count: tokens.length,
    max_model_len: model.engine.info.contextLength,
    tokens,
  };
  if (body.return_token_strs) response.token_strs = tokens.map((id) => tokenizer.idToToken(id) ?? '');
  sendJson(ctx.res, 200, response, { 'x-request-id': ctx.requestId });
}

export async function handleDetokenize(server: ServerState, ctx: RequestContext): Promise<void> {
  const body = parseDetokenizeRequest(await readJsonBody(ctx.req, server.maxBodyBytes));
  const model = resolveModel(server, ctx, body.model);
  const bad = body.tokens.findIndex((id) => id >= model.tokenizer.vocabSize);
  if (bad >= 0) {
    throw new InvalidRequestError(
      `tokens[${bad}] = ${body.tokens[bad]} is not a token id of this model (vocabulary size ${model.tokenizer.vocabSize})`,
      'tokens',
    );
  }
  const response: DetokenizeResponse = {
    prompt: model.tokenizer.decode(body.tokens, { skipSpecialTokens: false }),
  };
  sendJson(ctx.res, 200, response, { 'x-request-id': ctx.requestId });
}
