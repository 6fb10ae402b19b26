/**
 * Ranks 1..N−1 of a 'tcp' tensor-parallel group as local child processes (`dhw tp-rank`), for when the
 * operator gives no `--tp-peers`: free loopback ports are picked, one child per rank is started, and the
 * peers list is handed to rank 0. Children die with their rank 0 (its links close, they exit).
 * For ranks on other hosts start `dhw tp-rank` there yourself and pass `--tp-peers` instead.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { PeerAddress } from '../model/index.ts';
import { repoRoot } from '../util/paths.ts';

const DHW = join(repoRoot, 'bin', 'dhw.mjs');

export interface LocalRanksOptions {
  modelDir: string;
  size: number;
  host?: string;
  threads?: number;
  weightDtype?: string;
  timeoutMs?: number;
}

export interface LocalRanks {
  peers: PeerAddress[];
  /** Process ids of ranks 1..N−1, in rank order. */
  pids: number[];
  /** Exit codes or signals of ranks that ended before stop() (for error messages). */
  exited(): string[];
  stop(): Promise<void>;
}

export async function spawnLocalTpRanks(o: LocalRanksOptions): Promise<LocalRanks> {
  const host = o.host ?? '127.0.0.1';
  const peers: PeerAddress[] = [];
  for (let r = 0; r < o.size; r++) peers.push({ host, port: await freePort(host) });
  const spec = peers.map((p) => `${p.host}:${p.port}`).join(',');
  const children: ChildProcess[] = [];
  const exits: string[] = [];
  let stopping = false;
  for (let rank = 1; rank < o.size; rank++) {
    const args = [DHW, 'tp-rank', '--model', o.modelDir, '--tp-rank', String(rank), '--tp-peers', spec];
    if (o.threads !== undefined) args.push('--threads', String(o.threads));
    if (o.weightDtype !== undefined) args.push('--weight-dtype', o.weightDtype);
    if (o.timeoutMs !== undefined) args.push('--tp-timeout', String(o.timeoutMs / 1000));
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr])
      if (stream)
        createInterface({ input: stream }).on('line', (line) =>
          process.stderr.write(`[tp-rank-${rank}] ${line}\n`),
        );
    child.on('exit', (code, signal) => {
      if (!stopping) exits.push(`tp-rank ${rank} (pid ${child.pid}) exited: ${signal ?? `code ${code}`}`);
    });
    children.push(child);
  }
  return {
    peers,
    pids: children.map((c) => c.pid!),
    exited: () => [...exits],
    stop: async () => {
      stopping = true;
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
