/**
 * Starts the stage processes of a local pipeline (stages 1..p−1 on this host; stage 0 is the engine's own
 * process), like a shell starting the processes of a pipeline and wiring their pipes. Each child loads its
 * layers, listens on a free loopback port and prints the address; the engine then connects the chain.
 * Stages on other hosts are started by hand instead (`dhw worker --pipeline-stage K`) and named with
 * `pipelineStageAddresses`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { DhwError } from '../../util/errors.ts';
import { loggingSettings } from '../../util/logger.ts';
import type { StageServerOptions } from './stage-server.ts';
import { STAGE_READY_PREFIX } from './stage-wire.ts';
const STAGE_START_TIMEOUT_MS = 120_000;

export interface LocalStages {
  /** addresses[i] is stage i+1's `host:port`. */
  addresses: string[];
  children: ChildProcess[];
}

/** Spawn stages 1..numStages−1 and wait until each listens; on any failure, kill those already started. */
export async function spawnLocalStages(
  base: Omit<StageServerOptions, 'stage' | 'port'>,
): Promise<LocalStages> {
  const children: ChildProcess[] = [];
  try {
    const addresses = await Promise.all(
      Array.from({ length: base.numStages - 1 }, (_, i) => {
        const child = spawnStage({ ...base, stage: i + 1, port: 0 });
        children.push(child);
        return waitReady(child, i + 1);
      }),
    );
    return { addresses, children };
  } catch (err) {
    for (const child of children) child.kill('SIGKILL');
    throw err;
  }
}

function spawnStage(options: StageServerOptions): ChildProcess {
  const entry = new URL(
    import.meta.url.endsWith('.ts') ? './stage-main-bootstrap.mjs' : './stage-main.js',
    import.meta.url,
  );
  const args = JSON.stringify({ options, logging: loggingSettings() });
  return spawn(process.execPath, [entry.pathname, args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

function waitReady(child: ChildProcess, stage: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(
      () =>
        reject(
          new DhwError(`pipeline stage ${stage} did not start within ${STAGE_START_TIMEOUT_MS / 1000} s`),
        ),
      STAGE_START_TIMEOUT_MS,
    );
    child.stderr!.on('data', (chunk: Buffer) => {
      err = (err + chunk.toString()).slice(-4000);
      process.stderr.write(chunk); // the stage's logs go where the engine's go
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith(STAGE_READY_PREFIX));
      if (line) {
        clearTimeout(timer);
        resolve(line.slice(STAGE_READY_PREFIX.length).trim());
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new DhwError(
          `pipeline stage ${stage} (pid ${child.pid}) exited with ${signal ?? `code ${code}`} while starting: ${err.trim().split('\n').slice(-3).join(' | ')}`,
        ),
      );
    });
  });
}
