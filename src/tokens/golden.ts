/**
 * Readers for the reference goldens that tests (and benches) compare against: every `tok-*` fixture's
 * tokenizer_golden.json (made with Hugging Face transformers) and the bundled model's golden.json.
 * New `tok-*` folders are picked up automatically.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultModelDir, fixtureDirs } from '../util/paths.ts';
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
  /** The fixture folder's name (`fixtureDirs()`'s label: `NAME (repo copy)` for a differing in-repo copy). */
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

/** Every tok-* fixture folder (`fixtureDirs()`: in-repo and the maintainers' extra ones) with a tokenizer_golden.json. */
export function loadTokenizerGoldens(): TokenizerGolden[] {
  return fixtureDirs(
    (dir, name) => name.startsWith('tok-') && existsSync(join(dir, 'tokenizer_golden.json')),
  ).map(({ label, dir }) => {
    const golden = JSON.parse(readFileSync(join(dir, 'tokenizer_golden.json'), 'utf8'));
    return { name: label, dir, encode: golden.encode ?? [], chat: golden.chat ?? [] };
  });
}

/** The bundled model's chat samples: prompt, prompt ids, greedy continuation ids and text. */
export function loadModelSamples(modelDir = defaultModelDir): ModelSampleGolden[] {
  return JSON.parse(readFileSync(join(modelDir, 'golden.json'), 'utf8')).samples;
}
