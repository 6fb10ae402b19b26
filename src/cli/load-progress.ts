/**
 * The model-load progress display of `dhw serve|worker|generate|chat`: bytes of the checkpoint read so far,
 * through the shared progress helper (a bar on a terminal, a line every 5 s in logs, nothing with --json),
 * and only for checkpoints big enough to wait for (a TinyLlama-sized f32 checkpoint is 4.4 GB; the bundled
 * model loads in a blink). Like `dd status=progress`: a long copy says how far along it is.
 */
import type { LoadProgress } from '../model/checkpoint/load-model.ts';
import { type Progress, startProgress } from '../util/progress.ts';

/** Checkpoints smaller than this load without a progress display. */
const MIN_PROGRESS_BYTES = 256 * 2 ** 20;

/** An `onLoadProgress` callback that shows the load, or undefined when `--json` wants clean output. */
export function loadProgressBar(json: boolean): ((p: LoadProgress) => void) | undefined {
  if (json) return undefined;
  let progress: Progress | null = null;
  return ({ doneBytes, totalBytes }) => {
    if (totalBytes < MIN_PROGRESS_BYTES) return;
    progress ??= startProgress({ label: 'loading weights', total: totalBytes, unit: 'bytes' });
    progress.update(doneBytes);
    if (doneBytes >= totalBytes) progress.stop();
  };
}
