/**
 * Shutdown signals for long-running commands (`dhw worker`, `frontend`, `serve`, `events tail`), like a
 * daemon's SIGTERM handler: the first SIGINT / SIGTERM (or the death of the process that started us)
 * starts a graceful stop; a second signal means the operator will not wait.
 */

export interface SignalWait {
  /** Resolves with the first signal's name. */
  received: Promise<string>;
  /** Remove the handlers (the default action applies to signals from then on). */
  dispose(): void;
}

/**
 * Waits for the first SIGINT / SIGTERM, or for the process that started us to go away ('parent-exited').
 * With `onSecond`, the handlers stay until `dispose()` and a later signal calls it (exit without draining);
 * without, they are removed once the first signal arrives, so a second one terminates the process the
 * default way.
 *
 * Why the parent: `npm start &` runs npm → sh → node, and `kill <npm's pid>` never reaches node; it is
 * re-parented and would keep serving and holding its port. A long-running command therefore shuts down
 * (gracefully, as on SIGTERM) once its parent is gone. A process started by init or a supervisor that is
 * PID 1 (systemd, a container's init, `setsid -f`) has parent 1 from the start and is not watched.
 */
export function firstSignal(onSecond?: (signal: string) => void): SignalWait {
  let count = 0;
  let resolveSignal!: (signal: string) => void;
  const received = new Promise<string>((resolve) => {
    resolveSignal = resolve;
  });
  const parent = process.ppid > 1 ? parentGone() : undefined;
  parent?.gone.then((reason) => {
    count++;
    resolveSignal(reason);
  });
  const dispose = () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
    parent?.dispose();
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

/** Resolves with the first SIGINT / SIGTERM's name (or 'parent-exited'); a second signal gets the default action. */
export function untilSignal(): Promise<string> {
  return firstSignal().received;
}

/**
 * Resolves when our parent process is gone (we were re-parented, so our ppid changed). Like a supervisor's
 * child watching its supervisor: a `dhw serve` killed with -9 must not leave orphan workers serving.
 */
export function parentGone(): { gone: Promise<string>; dispose: () => void } {
  const parent = process.ppid;
  let timer: NodeJS.Timeout | undefined;
  const gone = new Promise<string>((resolve) => {
    timer = setInterval(() => {
      if (process.ppid !== parent) resolve('parent-exited');
    }, 1000);
    timer.unref();
  });
  return { gone, dispose: () => clearInterval(timer) };
}
