/**
 * Resident memory of one loaded model, measured in a fresh process so nothing else is counted:
 * `node bin/run-ts.mjs bench/lib/model-rss.ts DIR f32|q8_0` prints one JSON line
 * { rssBytes (after load and a full GC), peakRssBytes (high-water mark, loading included), baseRssBytes }.
 * `modelRss()` runs it as a child process (bench:q8's memory report).
 *
 * Like `/usr/bin/time -v` for one load: the process exists only to hold the model.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { LlamaModel } from '../../src/model/index.ts';
import { repoRoot } from '../../src/util/paths.ts';

export interface ModelRss {
  /** RSS of the bare process (tsx and the model code loaded, no weights) */
  baseRssBytes: number;
  /** RSS with the model loaded, after a full GC */
  rssBytes: number;
  /** the process's high-water mark, loading included */
  peakRssBytes: number;
}

/** Loads `dir` with `dtype` weights in a child process and returns its RSS report. */
export function modelRss(dir: string, dtype: 'f32' | 'q8_0'): ModelRss {
  const script = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, [join(repoRoot, 'bin/run-ts.mjs'), script, dir, dtype], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (child.status !== 0) throw new Error(`model-rss ${dtype} failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop()!) as ModelRss;
}

async function main(dir: string, dtype: string): Promise<void> {
  setFlagsFromString('--expose_gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const baseRssBytes = process.memoryUsage().rss;
  const model = await LlamaModel.load(dir, { threads: 1, weightDtype: dtype === 'q8_0' ? 'q8_0' : 'f32' });
  // The loader's f32 tensors (SmolLM2: ~500 MiB of ArrayBuffers) are garbage once the load returns, but
  // their memory goes back only after a GC, a turn of the event loop (the backing stores are released by
  // callbacks that run there) and a second GC: measuring after one GC counted them as resident.
  gc();
  await new Promise((resolve) => setTimeout(resolve, 100));
  gc();
  const report: ModelRss = {
    baseRssBytes,
    rssBytes: process.memoryUsage().rss,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  await model.close();
  console.log(JSON.stringify(report));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv[2]!, process.argv[3]!);
