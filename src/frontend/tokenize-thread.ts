/**
 * A tokenizer worker thread (tokenize-pool.ts): it builds each model's tokenizer from the files the main
 * thread sends with the first job for that model, then encodes text and sends the ids back, transferred.
 *
 *   main → {id, key, files?, text, addSpecialTokens}      thread → {id, ids: Int32Array} | {id, error}
 */
import { parentPort } from 'node:worker_threads';
import { Tokenizer, type TokenizerFiles } from '../tokens/index.ts';

export interface TokenizeJob {
  id: number;
  /** Which model's tokenizer; `files` comes with the first job of each key this thread sees. */
  key: number;
  files?: TokenizerFiles;
  text: string;
  addSpecialTokens: boolean;
}

export type TokenizeReply = { id: number; ids: Int32Array } | { id: number; error: string };

const port = parentPort!;
const tokenizers = new Map<number, Tokenizer>();

port.on('message', (job: TokenizeJob) => {
  try {
    if (job.files) tokenizers.set(job.key, Tokenizer.fromFiles(job.files));
    const tokenizer = tokenizers.get(job.key);
    if (!tokenizer) throw new Error(`tokenizer ${job.key} was never sent to this thread`);
    const ids = Int32Array.from(tokenizer.encode(job.text, { addSpecialTokens: job.addSpecialTokens }));
    port.postMessage({ id: job.id, ids } satisfies TokenizeReply, [ids.buffer]);
  } catch (err) {
    port.postMessage({ id: job.id, error: (err as Error).message } satisfies TokenizeReply);
  }
});
port.postMessage('ready');
