/**
 * A live progress line for long runs (`cli-progress`, the bar most Node CLIs use): requests done of total,
 * rate, failures, ETA. Drawn on stderr only when stderr is a terminal and the caller did not ask for
 * machine output, so pipes, CI logs and `--json` stay clean.
 */
import cliProgress from 'cli-progress';
import type { RunProgress } from './run-bench.ts';

export function progressBar(label: string, enabled: boolean): RunProgress & { stop(): void } {
  if (!enabled) return { stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label.padEnd(18)} [{bar}] {value}/{total} requests | {rate} req/s | failed {failed} | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const start = performance.now();
  let failed = 0;
  let started = false;
  return {
    onResult(result, done, total) {
      if (!started) {
        bar.start(total, 0, { rate: '0', failed: 0 });
        started = true;
      }
      if (result.error !== undefined) failed++;
      const rate = (done / Math.max(1e-3, (performance.now() - start) / 1000)).toFixed(1);
      bar.update(done, { rate, failed });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
