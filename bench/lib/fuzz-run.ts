/**
 * Runs fuzz cases (fuzz-cases.ts) against a real stack: a `dhw frontend` PROCESS in front of a zero-delay
 * mocker worker process (file discovery), so the frontend's memory (RSS from /proc) is its own. Shared by
 * the CI-sized test (`bench/fuzz.test.ts`) and `npm run fuzz` (`bench/fuzz.ts`).
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { type LocalStack, startLocalStack } from './dhw-stack.ts';
import type { HttpCase, RawCase } from './fuzz-cases.ts';

export type FuzzStack = LocalStack;

/** A `dhw frontend` process (`--max-body-bytes`) in front of one zero-delay mocker worker process. */
export function startFuzzStack(options: { maxBodyBytes: number }): Promise<FuzzStack> {
  return startLocalStack({
    workers: 1,
    workerArgs: ['--engine', 'mocker', '--speedup-ratio', '0'],
    frontendArgs: [
      '--router',
      'round-robin',
      '--max-body-bytes',
      String(options.maxBodyBytes),
      '--log-level',
      'error',
    ],
  });
}

/**
 * One HTTP case on a connection of its own (no keep-alive pool: a reused socket that the server is closing
 * at that instant would fail on the client's side and say nothing about the server) → its status, or
 * `error:CODE` when the connection failed.
 */
export function sendHttp(url: string, c: HttpCase): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpRequest(
      `${url}${c.path}`,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': c.contentType ?? 'application/json', 'content-length': c.body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', (err) => resolve(`error:${(err as NodeJS.ErrnoException).code ?? err.message}`));
      },
    );
    req.on('error', (err) => resolve(`error:${(err as NodeJS.ErrnoException).code ?? err.message}`));
    req.end(c.body);
  });
}

/**
 * One raw case → the status of the response's first line, or 'closed' when the server hung up without
 * answering, or 'timeout' when it did neither within `timeoutMs`.
 */
export function sendRaw(port: number, c: RawCase, timeoutMs: number): Promise<number | 'closed' | 'timeout'> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const finish = (result: number | 'closed' | 'timeout'): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('error', () => {});
    socket.on('data', (d) => {
      received += d.toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(received);
      if (status) finish(Number(status[1]));
    });
    socket.on('close', () => finish('closed'));
    socket.write(c.bytes);
  });
}

export interface FuzzReport {
  total: number;
  /** Status → count (0 = connection failed). */
  statuses: Map<string, number>;
  kinds: Map<string, number>;
  /** Cases whose answer was not a 4xx (raw cases: closed unanswered is accepted). */
  failed: number;
  /** The first 50 of them, described. */
  failures: string[];
}

/** Run `cases` with `concurrency` in flight; a 4xx is the only right answer. */
export async function runCases<C extends HttpCase | RawCase>(
  cases: readonly C[],
  send: (c: C) => Promise<number | string>,
  concurrency: number,
  /** Called after every `every` answers (memory samples). */
  progress?: { every: number; call: () => void },
): Promise<FuzzReport> {
  const report: FuzzReport = { total: 0, statuses: new Map(), kinds: new Map(), failed: 0, failures: [] };
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < cases.length) {
      const c = cases[next++];
      const answer = await send(c);
      report.total++;
      if (progress && report.total % progress.every === 0) progress.call();
      report.kinds.set(c.kind, (report.kinds.get(c.kind) ?? 0) + 1);
      report.statuses.set(String(answer), (report.statuses.get(String(answer)) ?? 0) + 1);
      const ok =
        answer === 'closed' ? !('path' in c) : typeof answer === 'number' && answer >= 400 && answer < 500;
      if (!ok) report.failed++;
      if (!ok && report.failures.length < 50) {
        const sample = ('body' in c ? c.body : c.bytes).subarray(0, 120).toString('latin1');
        report.failures.push(`${c.kind} → ${answer}: ${sample}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return report;
}

/**
 * Memory growth that GC timing cannot fake: the highest RSS sample of the last quarter of a run over the
 * highest of its first quarter, minus 1. A leak raises every later peak; a heap that merely breathes does not.
 */
export function peakGrowth(samples: readonly number[]): number {
  const quarter = Math.max(1, Math.floor(samples.length / 4));
  const head = Math.max(...samples.slice(0, quarter));
  const tail = Math.max(...samples.slice(-quarter));
  return tail / head - 1;
}
