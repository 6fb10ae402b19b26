import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { repoTracesDir, traceFile, traceFiles } from '../util/paths.ts';
import { TraceFormatError, TraceNotFoundError } from './errors.ts';
import { parseTrace, readTrace } from './trace.ts';

const MOONCAKE = traceFile('mooncake_synthetic_trace.jsonl');
const line = (o: object) => JSON.stringify(o);
const ok = { timestamp: 0, input_length: 600, output_length: 5, hash_ids: [1, 2] };

function formatError(text: string): TraceFormatError {
  try {
    parseTrace(text, { source: 't.jsonl' });
  } catch (err) {
    assert.ok(err instanceof TraceFormatError, `expected TraceFormatError, got ${err}`);
    return err;
  }
  assert.fail('expected the trace to be rejected');
}

describe('parseTrace', () => {
  it('reads Mooncake lines, skips blank lines, sorts by timestamp keeping file order on ties', () => {
    const text = [
      line({ ...ok, timestamp: 50, hash_ids: [9, 10] }),
      '',
      line({ ...ok, timestamp: 10, hash_ids: [1, 2] }),
      line({ ...ok, timestamp: 50, hash_ids: [3, 4], extra: 'ignored' }),
    ].join('\n');
    const records = parseTrace(text);
    assert.deepEqual(
      records.map((r) => [r.line, r.timestampMs, r.hashIds[0]]),
      [
        [3, 10, 1],
        [1, 50, 9],
        [4, 50, 3],
      ],
    );
    assert.equal(records[0]!.inputLength, 600);
    assert.equal(records[0]!.outputLength, 5);
    assert.equal(parseTrace(text, { maxRequests: 2 }).length, 2);
  });

  it('names the file, the line and the rule a bad line breaks', () => {
    const good = line(ok);
    const bad = formatError(`${good}\n${good}\n{"timestamp": 3, "input_length": `);
    assert.equal(bad.line, 3);
    assert.match(bad.message, /^t\.jsonl:3: not valid JSON/);
    assert.match(
      formatError(line({ ...ok, output_length: 0 })).message,
      /:1: "output_length" must be an integer ≥ 1/,
    );
    assert.match(
      formatError(line({ ...ok, timestamp: -1 })).message,
      /"timestamp" must be a number of ms ≥ 0/,
    );
    assert.match(
      formatError(line({ ...ok, hash_ids: [1, -2] })).message,
      /"hash_ids"\[1\] must be an integer ≥ 0/,
    );
    assert.match(formatError(line({ ...ok, hash_ids: [] })).message, /"hash_ids" must be a non-empty array/);
    assert.match(formatError('[1, 2]').message, /expected a JSON object/);
    const mismatch = formatError(`${good}\n${line({ ...ok, input_length: 2000 })}`);
    assert.equal(mismatch.line, 2);
    assert.match(
      mismatch.message,
      /input_length 2000 does not match 2 hash_ids of 512 tokens: expected 512 < input_length ≤ 1024/,
    );
    assert.match(formatError('\n\n').message, /no requests found/);
  });

  it('reads the shared Mooncake trace', () => {
    const records = readTrace(MOONCAKE, { maxRequests: 200 });
    assert.equal(records.length, 200);
    for (const r of records) {
      assert.ok((r.hashIds.length - 1) * 512 < r.inputLength && r.inputLength <= r.hashIds.length * 512);
    }
    assert.ok(records.every((r, i) => i === 0 || records[i - 1]!.timestampMs <= r.timestampMs));
  });

  it('reports a missing file as a TraceFormatError', () => {
    assert.throws(
      () => readTrace('/nonexistent/trace.jsonl'),
      /cannot read trace \/nonexistent\/trace\.jsonl/,
    );
  });

  it('names the resolved path and the bundled trace when a file is missing (not a bare ENOENT)', () => {
    assert.throws(
      () => readTrace('no-such-dir/trace.jsonl'),
      (err: Error) => {
        assert.ok(err instanceof TraceNotFoundError && err instanceof TraceFormatError);
        assert.equal(err.path, resolve('no-such-dir/trace.jsonl'));
        assert.ok(err.message.includes(resolve('no-such-dir/trace.jsonl')), err.message);
        assert.ok(err.message.includes(join(repoTracesDir, 'mooncake_synthetic_trace.jsonl')), err.message);
        assert.doesNotMatch(err.message, /ENOENT/);
        return true;
      },
    );
  });

  it('parses every trace the repository and the maintainers provide', () => {
    const files = traceFiles();
    assert.ok(files.length >= 1);
    for (const file of files) assert.ok(readTrace(file).length > 0, file);
  });
});
