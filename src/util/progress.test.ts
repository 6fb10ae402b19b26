import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { progressMode, startProgress } from './progress.ts';

const ESC = String.fromCharCode(27);

/** A stream that keeps what is written; `isTTY` makes it look like a terminal to cli-progress. */
function captureStream(isTTY: boolean): Writable & { isTTY: boolean; columns: number; text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as Writable & { isTTY: boolean; columns: number; text(): string };
  stream.isTTY = isTTY;
  stream.columns = 120;
  stream.text = () => chunks.join('');
  return stream;
}

test('a terminal gets a live bar with the label, the amount and the percentage, cleared at the end', () => {
  const stream = captureStream(true);
  const progress = startProgress({ label: 'loading weights', total: 4 * 1024 * 1024, unit: 'bytes', stream });
  assert.equal(progress.mode, 'bar');
  progress.update(1024 * 1024, 'tok_embeddings');
  progress.update(4 * 1024 * 1024);
  progress.stop();
  progress.stop();
  const text = stream.text();
  assert.match(text, /loading weights \[/);
  assert.match(text, /4\.00 MiB of 4\.00 MiB/);
  assert.match(text, /100%/);
  // clearOnComplete: the last thing drawn is a line clear, so a finished bar leaves the terminal clean.
  assert.ok(
    text.endsWith(`${ESC}[2K`) || text.includes(`${ESC}[2K${ESC}[?25h`),
    JSON.stringify(text.slice(-40)),
  );
});

test('not a terminal: no bar, a plain line once per period, none for a short operation', () => {
  const stream = captureStream(false);
  let clock = 0;
  const progress = startProgress({
    label: 'replay',
    total: 200,
    unit: 'requests',
    stream,
    logEveryMs: 5000,
    now: () => clock,
  });
  assert.equal(progress.mode, 'log');
  for (let done = 1; done <= 40; done++) {
    clock += 100; // 4 s in all: shorter than one period
    progress.update(done);
  }
  assert.equal(stream.text(), '', 'a short operation prints nothing');
  for (let done = 41; done <= 200; done++) {
    clock += 100;
    progress.increment(1, done === 200 ? 'last' : undefined);
  }
  progress.stop();
  const lines = stream.text().trim().split('\n');
  // 20 s of updates with a 5 s period: lines at 5, 10, 15 and 20 s.
  assert.equal(lines.length, 4, stream.text());
  assert.equal(lines[0], 'replay: 50 of 200 requests (25%) after 5 s');
  assert.equal(lines[3], 'replay: 200 of 200 requests (100%) after 20 s last');
  assert.ok(!stream.text().includes(ESC), 'no escape sequences in a log');
});

test('--json or quiet shows nothing, even on a terminal', () => {
  for (const flags of [{ json: true }, { quiet: true }]) {
    const stream = captureStream(true);
    const progress = startProgress({ label: 'convert', total: 10, stream, ...flags });
    assert.equal(progress.mode, 'quiet');
    progress.update(5);
    progress.stop();
    assert.equal(stream.text(), '');
  }
  assert.equal(progressMode({ stream: captureStream(false) }), 'log');
  assert.equal(progressMode({ stream: captureStream(true) }), 'bar');
});

test('setTotal changes the denominator of the log line when the size is learnt late', () => {
  const stream = captureStream(false);
  let clock = 0;
  const progress = startProgress({
    label: 'download etcd',
    total: 0,
    unit: 'bytes',
    stream,
    now: () => clock,
  });
  progress.setTotal(2048);
  clock = 6000;
  progress.update(1024);
  assert.equal(stream.text(), 'download etcd: 1.00 KiB of 2.00 KiB (50%) after 6 s\n');
});
