/**
 * Small synthetic Mooncake traces for tests: "documents" (shared prefixes of a few trace blocks) that many
 * requests reuse, each followed by a unique question. Like a handful of popular URLs in an access log.
 */
import type { TraceRecord } from '../trace.ts';

export interface SharedPrefixTraceOptions {
  requests: number;
  /** Distinct shared prefixes. */
  documents: number;
  /** Trace blocks per shared prefix. */
  prefixBlocks: number;
  /** Unique trace blocks after the prefix. */
  suffixBlocks: number;
  traceBlockSize: number;
  /** ms between arrivals. */
  gapMs: number;
  outputLength: number;
}

/** Request i reads a pseudo-random document (a fixed hash of i), then its own blocks. Deterministic. */
export function sharedPrefixTrace(o: SharedPrefixTraceOptions): TraceRecord[] {
  let nextUniqueId = 1_000_000;
  return Array.from({ length: o.requests }, (_, i) => {
    // High bits of a multiplicative hash: no stride that round-robin could line up with by accident.
    const doc = (Math.imul(i + 1, 0x9e3779b1) >>> 16) % o.documents;
    const prefix = Array.from({ length: o.prefixBlocks }, (_, b) => doc * 1000 + b);
    const suffix = Array.from({ length: o.suffixBlocks }, () => nextUniqueId++);
    const hashIds = [...prefix, ...suffix];
    return {
      line: i + 1,
      timestampMs: i * o.gapMs,
      inputLength: hashIds.length * o.traceBlockSize - 3, // last trace block partial
      outputLength: o.outputLength,
      hashIds,
    };
  });
}

/** The records as Mooncake JSON lines. */
export function toJsonLines(records: readonly TraceRecord[]): string {
  return records
    .map((r) =>
      JSON.stringify({
        timestamp: r.timestampMs,
        input_length: r.inputLength,
        output_length: r.outputLength,
        hash_ids: r.hashIds,
      }),
    )
    .join('\n');
}
