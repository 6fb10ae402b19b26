/**
 * Mooncake request traces (FAST'25; docs/design-notes.md#traces): one JSON object per line,
 *
 *   {"timestamp": 277, "input_length": 32140, "output_length": 92, "hash_ids": [198, 199, ...]}
 *
 * `timestamp` is ms from the start, `hash_ids` name the prompt's 512-token blocks, chained: two requests that
 * share their first k ids share their first k·512 prompt tokens. Like a web server's access log: what came in,
 * when, and how big, without the payload itself; `trace-tokens.ts` invents a payload with the same sharing.
 *
 * Every line is validated where it enters (the edge): a bad line fails the whole read with a `TraceFormatError`
 * naming the file, the line number and the rule it broke.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoTracesDir } from '../util/paths.ts';
import { TraceFormatError, TraceNotFoundError } from './errors.ts';

/** Tokens per trace block in the published Mooncake traces. */
export const MOONCAKE_BLOCK_SIZE = 512;

export interface TraceRecord {
  /** 1-based line in the source, for messages. */
  line: number;
  /** Arrival, ms from the start of the trace. */
  timestampMs: number;
  inputLength: number;
  outputLength: number;
  /** Ids of the prompt's trace blocks (`traceBlockSize` tokens each, the last one possibly partial). */
  hashIds: readonly number[];
  /**
   * Optional `session_id` (the multi-turn field aiperf's Mooncake loader reads): the turns of one
   * conversation share it. Closed-loop replay (`--concurrency`) issues a session's turns one after another.
   */
  sessionId?: string;
  /** Optional `delay`: ms the user waits after the previous turn's answer before sending this turn. */
  delayMs?: number;
}

export interface ParseTraceOptions {
  /** Name for messages (a file path); default "trace". */
  source?: string;
  /** Tokens per hash id (default 512). */
  traceBlockSize?: number;
  /** Keep only the first K records (in file order). */
  maxRequests?: number;
}

/** Parse Mooncake JSON lines. Blank lines are skipped; records come back sorted by timestamp (stable). */
export function parseTrace(text: string, options: ParseTraceOptions = {}): TraceRecord[] {
  const source = options.source ?? 'trace';
  const blockSize = options.traceBlockSize ?? MOONCAKE_BLOCK_SIZE;
  const max = options.maxRequests ?? Number.POSITIVE_INFINITY;
  const records: TraceRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && records.length < max; i++) {
    const raw = lines[i]!.trim();
    if (raw === '') continue;
    records.push(parseTraceLine(raw, i + 1, source, blockSize));
  }
  if (records.length === 0) {
    throw new TraceFormatError(`${source}: no requests found; expected one JSON object per line`, 0);
  }
  // Stable: requests with equal timestamps keep their file order.
  return records.sort((a, b) => a.timestampMs - b.timestampMs);
}

/** Read and parse a trace file. */
export function readTrace(path: string, options: Omit<ParseTraceOptions, 'source'> = {}): TraceRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw traceNotFound(path, err);
    throw new TraceFormatError(`cannot read trace ${path}: ${(err as Error).message}`, 0, { cause: err });
  }
  return parseTrace(text, { ...options, source: path });
}

function traceNotFound(path: string, cause: unknown): TraceNotFoundError {
  const absolute = resolve(path);
  const where = absolute === path ? '' : ` (${absolute}: relative paths start from the current directory)`;
  return new TraceNotFoundError(
    `cannot read trace ${path}: no such file${where}. Check the path; the repository ships the public ` +
      `Mooncake trace as ${join(repoTracesDir, 'mooncake_synthetic_trace.jsonl')}.`,
    absolute,
    { cause },
  );
}

function parseTraceLine(raw: string, line: number, source: string, blockSize: number): TraceRecord {
  const fail = (why: string, cause?: unknown): never => {
    throw new TraceFormatError(`${source}:${line}: ${why}`, line, { cause });
  };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    fail(`not valid JSON (${(err as Error).message}); expected one JSON object per line`, err);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('expected a JSON object {timestamp, input_length, output_length, hash_ids}');
  }
  const obj = value as Record<string, unknown>;
  const timestamp = obj.timestamp;
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp) || timestamp < 0) {
    fail(`"timestamp" must be a number of ms ≥ 0, got ${JSON.stringify(timestamp)}`);
  }
  const inputLength = positiveInteger(obj.input_length, 'input_length', fail);
  const outputLength = positiveInteger(obj.output_length, 'output_length', fail);
  const hashIds = obj.hash_ids;
  if (!Array.isArray(hashIds) || hashIds.length === 0) {
    fail(`"hash_ids" must be a non-empty array of block ids, got ${JSON.stringify(hashIds)}`);
  }
  const ids = hashIds as unknown[];
  const badId = ids.findIndex((id) => !(Number.isSafeInteger(id) && (id as number) >= 0));
  if (badId >= 0) {
    fail(`"hash_ids"[${badId}] must be an integer ≥ 0, got ${JSON.stringify(ids[badId])}`);
  }
  const n = ids.length;
  if (!((n - 1) * blockSize < inputLength && inputLength <= n * blockSize)) {
    fail(
      `input_length ${inputLength} does not match ${n} hash_ids of ${blockSize} tokens: expected ` +
        `${(n - 1) * blockSize} < input_length ≤ ${n * blockSize} (check --trace-block-size)`,
    );
  }
  const record: TraceRecord = {
    line,
    timestampMs: timestamp as number,
    inputLength,
    outputLength,
    hashIds: ids as number[],
  };
  const session = obj.session_id;
  if (session !== undefined) {
    if (typeof session !== 'string' && !Number.isSafeInteger(session)) {
      fail(`"session_id" must be a string or an integer, got ${JSON.stringify(session)}`);
    }
    record.sessionId = String(session);
  }
  const delay = obj.delay;
  if (delay !== undefined) {
    if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
      fail(`"delay" must be a number of ms ≥ 0, got ${JSON.stringify(delay)}`);
    }
    record.delayMs = delay as number;
  }
  return record;
}

/** One record as a Mooncake JSON line (with `session_id` and `delay` when the record has them). */
export function formatTraceLine(r: TraceRecord): string {
  const line: Record<string, unknown> = {
    timestamp: r.timestampMs,
    input_length: r.inputLength,
    output_length: r.outputLength,
    hash_ids: r.hashIds,
  };
  if (r.sessionId !== undefined) line.session_id = r.sessionId;
  if (r.delayMs !== undefined) line.delay = r.delayMs;
  return JSON.stringify(line);
}

function positiveInteger(value: unknown, name: string, fail: (why: string) => never): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    fail(`"${name}" must be an integer ≥ 1, got ${JSON.stringify(value)}`);
  }
  return value as number;
}
