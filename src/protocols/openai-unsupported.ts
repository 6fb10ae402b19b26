/**
 * OpenAI request fields this server does not implement, and fields it accepts only in some values. A field
 * we cannot honour is a 400 naming it: a client that asked for audio, a stored completion or a suffix
 * must not get a plain text answer that looks like success. Like a proxy answering 501 for a method it
 * does not implement instead of forwarding it as a GET.
 *
 * Fields that are not OpenAI's (nor vLLM's extras read in `openai-validation.ts`) are still ignored, as
 * vLLM does: clients add their own.
 */
import { InvalidRequestError } from './errors.ts';
import { describe, type FieldReader } from './openai-field-reader.ts';

export type Endpoint = 'chat' | 'completions';

/** OpenAI fields with no implementation here, per endpoint, and why (the 400's message ends with it). */
const NOT_IMPLEMENTED: Record<Endpoint, Record<string, string>> = {
  chat: {
    audio: 'this server produces text only',
    prediction: 'predicted outputs (speculative decoding from a given text) are not implemented',
    web_search_options: 'this server has no web search',
    functions: "the deprecated 'functions' API is not implemented: use 'tools'",
    function_call: "the deprecated 'function_call' API is not implemented: use 'tool_choice'",
    reasoning_effort: 'this model is not a reasoning model',
    verbosity: 'this model has no verbosity control',
  },
  completions: {
    suffix: 'insertion (fill-in-the-middle) is not implemented',
  },
};

/** Throws a 400 naming the first field this server cannot honour as sent. */
export function rejectUnsupportedFields(fields: FieldReader, endpoint: Endpoint): void {
  for (const key of fields.keys()) {
    const reason = NOT_IMPLEMENTED[endpoint][key];
    if (reason !== undefined) {
      throw new InvalidRequestError(`'${key}' is not supported: ${reason}`, key);
    }
  }
  readStore(fields);
  fields.object('metadata');
  fields.string('prompt_cache_key');
  fields.string('safety_identifier');
  readServiceTier(fields);
  if (endpoint === 'chat') readModalities(fields);
}

/** `store: true` asks OpenAI to keep the completion for later retrieval; nothing is kept here. */
function readStore(fields: FieldReader): void {
  if (fields.boolean('store') === true) {
    throw new InvalidRequestError(
      "'store': true is not supported: this server does not store completions (leave it out or send false)",
      'store',
    );
  }
}

/** 'auto' and 'default' mean "the normal queue", which is all there is; the paid tiers do not exist. */
function readServiceTier(fields: FieldReader): void {
  const tier = fields.string('service_tier');
  if (tier === undefined || tier === 'auto' || tier === 'default') return;
  throw new InvalidRequestError(
    `'service_tier' ${describe(tier)} is not supported: this server has one tier ('auto' or 'default')`,
    'service_tier',
  );
}

function readModalities(fields: FieldReader): void {
  const modalities = fields.array('modalities');
  if (modalities === undefined) return;
  if (modalities.every((m) => m === 'text')) return;
  throw new InvalidRequestError(
    `'modalities' ${describe(modalities)} is not supported: this server produces text only (["text"])`,
    'modalities',
  );
}
