/**
 * Runs fuzz cases (fuzz-cases.ts) against a real stack: a `dhw frontend` PROCESS in front of a zero-delay
 * mocker worker process (file discovery), so the frontend's memory (RSS from /proc) is its own. Shared by
 * the CI-sized test (`bench/fuzz.test.ts`) and `npm run fuzz` (`bench/fuzz.ts`).
 */
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

/** One HTTP case → its status (0 when the connection failed). */
export async function sendHttp(url: string, c: HttpCase): Promise<number> {
  try {
    const res = await fetch(`${url}${c.path}`, {
      method: 'POST',
      headers: { 'content-type': c.contentType ?? 'application/json' },
      body: c.body,
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
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
  send: (c: C) => Promise<number | 'closed' | 'timeout'>,
  concurrency: number,
): Promise<FuzzReport> {
  const report: FuzzReport = { total: 0, statuses: new Map(), kinds: new Map(), failed: 0, failures: [] };
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < cases.length) {
      const c = cases[next++];
      const answer = await send(c);
      report.total++;
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
