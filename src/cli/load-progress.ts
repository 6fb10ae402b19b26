/**
 * The model-load progress bar of `dhw serve|worker|generate|chat`: bytes of the checkpoint read so far, on
 * stderr, only on a terminal (never in logs, pipes or --json output) and only for checkpoints big enough
 * to wait for (a TinyLlama-sized f32 checkpoint is 4.4 GB; the bundled model loads in a blink).
 *
 * Like `dd status=progress`: a long copy says how far along it is. Kept small and local; a shared progress
 * helper in util/ can replace it.
 */
import cliProgress from 'cli-progress';
import type { LoadProgress } from '../model/checkpoint/load-model.ts';
import { formatBytes } from '../util/format.ts';

/** Checkpoints smaller than this load without a bar. */
const MIN_BAR_BYTES = 256 * 2 ** 20;

/** An `onLoadProgress` callback drawing a bar on a TTY stderr, or undefined when no bar should show. */
export function loadProgressBar(json: boolean): ((p: LoadProgress) => void) | undefined {
  if (json || !process.stderr.isTTY) return undefined;
  let bar: cliProgress.SingleBar | null = null;
  return ({ doneBytes, totalBytes }) => {
    if (totalBytes < MIN_BAR_BYTES) return;
    if (!bar) {
      bar = new cliProgress.SingleBar(
        {
          format: 'loading weights [{bar}] {percentage}% | {done} of {size} | ETA {eta_formatted}',
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(totalBytes, 0, { done: '0 B', size: formatBytes(totalBytes) });
    }
    bar.update(doneBytes, { done: formatBytes(doneBytes), size: formatBytes(totalBytes) });
    if (doneBytes >= totalBytes) bar.stop();
  };
}
