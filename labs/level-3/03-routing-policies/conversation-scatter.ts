/**
 * Why Dynamo's cost (`--router kv`) scatters long conversations, on a generated multi-turn trace
 * (`dhw trace generate --kind conversation`). A conversation's next turn resends its whole history, so the
 * worker that served the previous turn holds almost all of the new prompt. kv credits that overlap once,
 * in blocks of prefill saved; it charges every worker its active blocks (the KV of the requests it is
 * decoding). With prompts of ~16k tokens (~1,000 blocks), ONE more active conversation on the home worker
 * outweighs the whole cached history, and the turn moves to a worker that must prefill it from scratch.
 * Like a load balancer whose session affinity gives way as soon as the sticky backend has one more
 * connection than the others.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readTrace, runReplay, summarizeReplay, type TraceRecord } from '../../../src/replay/index.ts';
import type { ReplayResult } from '../../../src/replay/index.ts';
import { repoRoot } from '../../../src/util/paths.ts';
import { note } from '../../lib/lab-kit.ts';
import type { LogCapture } from '../../lib/log-capture.ts';

export interface ScatterShape {
  sessions: number;
  workers: number;
  /** Arrival = timestamp × timeScale: 0.25 is the trace's traffic four times faster. */
  timeScale: number;
  seed: number;
}

/** Flags of `dhw trace generate`: long conversations (4 turns on average), short think time, 4 sessions/s. */
export function generateArgs(shape: ScatterShape, out: string): string[] {
  return [
    ...['trace', 'generate', '--kind', 'conversation', '--sessions', String(shape.sessions)],
    ...['--turns-mean', '4', '--think-time', 'exp:3000', '--rate', '4', '--seed', String(shape.seed)],
    ...['--out', out],
  ];
}

/** Runs `dhw trace generate` as typed, echoing the command and its summary lines. */
export function generateTrace(shape: ScatterShape, out: string): TraceRecord[] {
  const args = generateArgs(shape, out);
  note(`$ dhw ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [join(repoRoot, 'bin', 'dhw.mjs'), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.status !== 0) throw new Error(`dhw trace generate failed:\n${result.stderr}`);
  for (const line of result.stderr.trim().split('\n').slice(0, 2)) note(`  ${line}`);
  return readTrace(out, {});
}

export interface ScatterRun {
  policy: string;
  result: ReplayResult;
  /** Later turns (turn ≥ 2) of a session. */
  laterTurns: number;
  /** …of which went to another worker than the session's previous turn. */
  moved: number;
  /** Trace indexes of the moved turns, in arrival order. */
  movedIndexes: number[];
  /** Trace index → the worker of the session's previous turn. */
  homeOf: Map<number, string>;
  /** Trace index → its session id. */
  sessionOf: Map<number, string>;
}

/** Replays the trace with `policy`; counts the turns that left the worker of their session's previous turn. */
export async function replayScatter(
  trace: readonly TraceRecord[],
  policy: string,
  shape: ScatterShape,
  seed: number,
): Promise<ScatterRun> {
  const result = await runReplay(trace, {
    router: policy,
    workers: shape.workers,
    timeScale: shape.timeScale,
    seed,
    decisionLog: policy === 'kv' ? 'info' : 'off',
  });
  const last = new Map<string, string>();
  const homeOf = new Map<number, string>();
  const sessionOf = new Map<number, string>();
  const movedIndexes: number[] = [];
  let laterTurns = 0;
  const order = [...result.records].sort((a, b) => a.arrivalMs - b.arrivalMs);
  for (const record of order) {
    const session = trace[record.index]?.sessionId;
    if (session === undefined) continue;
    sessionOf.set(record.index, session);
    const home = last.get(session);
    if (home !== undefined) {
      laterTurns++;
      homeOf.set(record.index, home);
      if (home !== record.workerId) movedIndexes.push(record.index);
    }
    last.set(session, record.workerId);
  }
  return { policy, result, laterTurns, moved: movedIndexes.length, movedIndexes, homeOf, sessionOf };
}

interface WorkerTerms {
  id: string;
  overlap: number;
  prefillTokens: number;
  active: number;
  decode: number;
  cost: number;
}

/** "w1: overlap=12 prefill=0t active=0b cost 1.0*4 + 16 = 20" (a predicted-overlap split is skipped). */
function parseWorker(text: string): WorkerTerms | undefined {
  const m =
    /^(\S+): overlap=(\d+)(?: \([^)]*\))? prefill=(\d+)t active=(\d+)b cost [\d.]+\*[\d.]+ \+ ([\d.]+) = ([\d.]+)/.exec(
      text,
    );
  if (!m) return undefined;
  const [, id, overlap, prefill, active, decode, cost] = m;
  return {
    id: id as string,
    overlap: Number(overlap),
    prefillTokens: Number(prefill),
    active: Number(active),
    decode: Number(decode),
    cost: Number(cost),
  };
}

/**
 * One moved turn, predicted from its inputs, then checked against the router's choice: the decision line's
 * per-worker numbers, kv's formula applied by hand, and the two terms that fight (overlap credit vs load).
 */
export function explainScatter(run: ScatterRun, logs: LogCapture, blockSize = 16): void {
  for (const index of run.movedIndexes) {
    const line = logs.grep(new RegExp(`\\[router\\] route requestId=r${index} policy=kv `))[0];
    const home = run.homeOf.get(index);
    const isl = Number(/ isl=(\d+)/.exec(line ?? '')?.[1]);
    const workers = [...(/workers=\[(.*)\]/.exec(line ?? '')?.[1] ?? '').matchAll(/"([^"]+)"/g)].map((m) =>
      parseWorker(m[1] as string),
    );
    const homeTerms = workers.find((w) => w?.id === home);
    const chosen = /chosen=(\S+)/.exec(line ?? '')?.[1];
    // A clear example: the home worker still holds most of the history (not just the system prompt).
    if (!line || !homeTerms || workers.some((w) => !w) || homeTerms.overlap * blockSize < isl / 2) continue;
    const terms = workers as WorkerTerms[];
    note(
      `request r${index}, a later turn of session ${run.sessionOf.get(index)}: isl=${isl} tokens (${Math.ceil(isl / blockSize)} blocks); its previous turn ran on ${home}`,
    );
    note(
      "predict with kv's formula, cost = 1.0 · (prefill backlog + isl − overlap·16)/16 + (active + new blocks):",
    );
    for (const w of terms) {
      const prefillBlocks = (w.prefillTokens + Math.max(0, isl - w.overlap * blockSize)) / blockSize;
      note(
        `  ${w.id}${w.id === home ? ' (home)' : '       '}: (${w.prefillTokens} + ${isl} − ${w.overlap}·16)/16 = ${prefillBlocks.toFixed(0)} ` +
          `+ decode ${w.decode} (active ${w.active}) = ${(prefillBlocks + w.decode).toFixed(0)}`,
      );
    }
    const predicted = terms.reduce((best, w) => (w.cost < best.cost ? w : best));
    const best = terms.filter((w) => w.id !== home).reduce((b, w) => (w.cost < b.cost ? w : b));
    note(
      `predicted: ${predicted.id}. The home worker's overlap credit is ${homeTerms.overlap - best.overlap} blocks, ` +
        `but it carries ${(homeTerms.prefillTokens / blockSize + homeTerms.decode - (best.prefillTokens / blockSize + best.decode)).toFixed(0)} blocks more load than ${best.id}`,
    );
    note(
      `measured: the router chose ${chosen}; the turn re-prefills ${isl - (terms.find((w) => w.id === chosen)?.overlap ?? 0) * blockSize} tokens there`,
    );
    return;
  }
  note('(no moved turn with a long cached history in this run: raise --scatter-sessions or the load)');
}

/** Per policy: prefix hit rate against the trace's LRU ceiling, and how many later turns changed worker. */
export function scatterRows(runs: readonly ScatterRun[]): (string | number)[][] {
  return runs.map((run) => {
    const m = summarizeReplay(run.result);
    const ceiling = run.result.ceiling?.lruHitRate ?? Number.NaN;
    const hit = m.prefixHitRate ?? 0;
    return [
      run.policy,
      `${(hit * 100).toFixed(1)} %`,
      `${(ceiling * 100).toFixed(1)} %`,
      `${((hit / ceiling) * 100).toFixed(0)} %`,
      `${run.moved} of ${run.laterTurns}`,
      Math.round(m.ttftMs.mean ?? 0),
    ];
  });
}
