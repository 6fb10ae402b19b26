/**
 * Readers for the reference goldens that tests (and benches) compare against: every `tok-*` fixture's
 * tokenizer_golden.json (made with Hugging Face transformers) and the bundled model's golden.json.
 * New `tok-*` folders are picked up automatically.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultModelDir, requireFixturesDir } from '../util/paths.ts';
import type { ChatMessage } from './chat-template.ts';

export interface EncodeGolden {
  text: string;
  ids: number[];
  ids_no_special: number[];
  decoded: string;
  decoded_skip_special: string;
}

export interface ChatGolden {
  messages: ChatMessage[];
  add_generation_prompt: boolean;
  text: string;
  ids: number[];
}

export interface TokenizerGolden {
  name: string;
  dir: string;
  encode: EncodeGolden[];
  chat: ChatGolden[];
}

export interface ModelSampleGolden {
  messages: ChatMessage[];
  prompt: string;
  prompt_ids: number[];
  greedy_ids: number[];
  greedy_text: string;
}

/** Every fixtures/tok-* directory that has a tokenizer_golden.json. */
export function loadTokenizerGoldens(): TokenizerGolden[] {
  const root = requireFixturesDir();
  return readdirSync(root)
    .filter((name) => name.startsWith('tok-') && existsSync(join(root, name, 'tokenizer_golden.json')))
    .sort()
    .map((name) => {
      const dir = join(root, name);
      const golden = JSON.parse(readFileSync(join(dir, 'tokenizer_golden.json'), 'utf8'));
      return { name, dir, encode: golden.encode ?? [], chat: golden.chat ?? [] };
    });
}

/** The bundled model's chat samples: prompt, prompt ids, greedy continuation ids and text. */
export function loadModelSamples(modelDir = defaultModelDir): ModelSampleGolden[] {
  return JSON.parse(readFileSync(join(modelDir, 'golden.json'), 'utf8')).samples;
}
