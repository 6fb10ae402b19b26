/**
 * Reads the tokenizer files of a Hugging Face checkpoint directory and resolves where its chat template lives.
 * Contract: every problem becomes a `TokenizerError` that names the file and says what to fix, like a config
 * loader that refuses to start a service with a half-written config instead of failing on the first request.
 *
 * Chat template lookup order (what transformers does):
 *   1. `chat_template.jinja`            (newer layout, transformers >= 4.43)
 *   2. `chat_template.json`             ({"chat_template": "..."}, processor layout)
 *   3. `tokenizer_config.json`.chat_template: a string, or a list of {name, template} (we use "default")
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TokenizerError } from '../util/errors.ts';

export type JsonObject = Record<string, unknown>;

/** Where the chat template came from, or why there is none usable. */
export type ChatTemplateSource =
  | { kind: 'template'; template: string; origin: string }
  | { kind: 'none'; reason: string };

/**
 * The tokenizer_config.json keys that name special tokens (transformers' `special_tokens_map`): exposed to
 * chat templates, and counted as special even when tokenizer.json forgot the flag.
 */
export const SPECIAL_TOKEN_KEYS = [
  'bos_token',
  'eos_token',
  'unk_token',
  'sep_token',
  'pad_token',
  'cls_token',
  'mask_token',
] as const;

export interface TokenizerFiles {
  dir: string;
  tokenizerJson: JsonObject;
  tokenizerConfig: JsonObject;
  chatTemplate: ChatTemplateSource;
}

/** Read a file, or undefined when it does not exist (any other I/O error is reported). */
async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TokenizerError(`cannot read ${path}: ${(err as Error).message}; check file permissions`, {
      cause: err,
    });
  }
}

function parseJsonObject(text: string, path: string, fix: string): JsonObject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new TokenizerError(`${path} is not valid JSON (${(err as Error).message}); ${fix}`, { cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TokenizerError(`${path} must hold a JSON object; ${fix}`);
  }
  return parsed as JsonObject;
}

async function readRequiredJson(dir: string, name: string, fix: string): Promise<JsonObject> {
  const path = join(dir, name);
  const text = await readOptional(path);
  if (text === undefined) throw new TokenizerError(`${name} not found in ${dir}; ${fix}`);
  return parseJsonObject(text, path, fix);
}

/** Pick the template out of tokenizer_config.json's `chat_template` (string or named list). */
export function templateFromConfigField(value: unknown, origin: string): ChatTemplateSource {
  if (value === undefined || value === null) {
    return {
      kind: 'none',
      reason: 'the model ships no chat template (no chat_template.jinja, no chat_template field)',
    };
  }
  if (typeof value === 'string') return { kind: 'template', template: value, origin };
  if (Array.isArray(value)) {
    const named = value as Array<{ name?: unknown; template?: unknown }>;
    const chosen = named.find((t) => t?.name === 'default');
    if (chosen && typeof chosen.template === 'string') {
      return { kind: 'template', template: chosen.template, origin: `${origin} (named "default")` };
    }
    const names = named.map((t) => String(t?.name)).join(', ');
    return { kind: 'none', reason: `${origin} lists templates [${names}] but none named "default"` };
  }
  throw new TokenizerError(
    `${origin} must be a string or a list of {name, template}; fix the tokenizer_config.json`,
  );
}

async function resolveChatTemplate(dir: string, tokenizerConfig: JsonObject): Promise<ChatTemplateSource> {
  const jinjaPath = join(dir, 'chat_template.jinja');
  const jinja = await readOptional(jinjaPath);
  if (jinja !== undefined) return { kind: 'template', template: jinja, origin: jinjaPath };

  const jsonPath = join(dir, 'chat_template.json');
  const json = await readOptional(jsonPath);
  if (json !== undefined) {
    const field = parseJsonObject(json, jsonPath, 'it should be {"chat_template": "..."}').chat_template;
    return templateFromConfigField(field, `${jsonPath} chat_template`);
  }
  return templateFromConfigField(
    tokenizerConfig.chat_template,
    `${join(dir, 'tokenizer_config.json')} chat_template`,
  );
}

/** Load tokenizer.json, tokenizer_config.json and the chat template from a checkpoint directory. */
export async function readTokenizerFiles(dir: string): Promise<TokenizerFiles> {
  const tokenizerJson = await readRequiredJson(
    dir,
    'tokenizer.json',
    'the model directory needs a "fast" tokenizer.json (models that only ship tokenizer.model must be converted ' +
      'with transformers: AutoTokenizer.from_pretrained(dir).save_pretrained(dir))',
  );
  if (typeof tokenizerJson.model !== 'object' || tokenizerJson.model === null) {
    throw new TokenizerError(
      `${join(dir, 'tokenizer.json')} has no "model" section; re-save it with transformers`,
    );
  }
  const tokenizerConfig = await readRequiredJson(
    dir,
    'tokenizer_config.json',
    'copy tokenizer_config.json from the original checkpoint (it names bos/eos tokens and the chat template)',
  );
  const chatTemplate = await resolveChatTemplate(dir, tokenizerConfig);
  return { dir, tokenizerJson, tokenizerConfig, chatTemplate };
}
