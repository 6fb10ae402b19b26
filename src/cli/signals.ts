/**
 * Shutdown signals for long-running commands (`dhw worker`, `frontend`, `serve`, `events tail`), like a
 * daemon's SIGTERM handler: the first SIGINT / SIGTERM starts a graceful stop; a second one means the
 * operator will not wait.
 */

export interface SignalWait {
  /** Resolves with the first signal's name. */
  received: Promise<string>;
  /** Remove the handlers (the default action applies to signals from then on). */
  dispose(): void;
}

/**
 * Waits for the first SIGINT / SIGTERM. With `onSecond`, the handlers stay until `dispose()` and a later
 * signal calls it (exit without draining); without, they are removed once the first signal arrives, so a
 * second one terminates the process the default way.
 */
export function firstSignal(onSecond?: (signal: string) => void): SignalWait {
  let count = 0;
  let resolveSignal!: (signal: string) => void;
  const received = new Promise<string>((resolve) => {
    resolveSignal = resolve;
  });
  const dispose = () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
  const handler = (signal: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      if (!onSecond) dispose();
      resolveSignal(signal);
    } else onSecond?.(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return { received, dispose };
}

/** Resolves with the first SIGINT / SIGTERM's name; a second signal gets the default action. */
export function untilSignal(): Promise<string> {
  return firstSignal().received;
}
