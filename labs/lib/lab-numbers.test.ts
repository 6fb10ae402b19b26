import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLabNumbers, LabNumbersError, parseLabNumbers, parseRange } from './lab-numbers.ts';

const README = `# Lab 9.9: Example

Some prose.

Machine: 2-core AMD EPYC, Node 20, load average 1 to 8

| quoted number | kind   | printed as                      | smoke run | full run |
| ------------- | ------ | ------------------------------- | --------- | -------- |
| prompt tokens | count  | \`/Prompt tokens: (\\d+)/\`       | 15        | 15       |
| KV bytes      | count  | \`/KV bytes per token: ([\\d,]+)/\` | 6,144     | 6,144    |
| prefill ms    | timing | \`/prefill ([\\d.]+) ms/\`         | 2–200     | 5–60     |
| decode steps  | count  | \`/decode steps: (\\d+)/\`         | –         | ≥ 30     |

After the table.
`;

test('a chapter table parses into numbers with their ranges and the machine', () => {
  const lab = parseLabNumbers(README)!;
  assert.equal(lab.machine, '2-core AMD EPYC, Node 20, load average 1 to 8');
  assert.deepEqual(
    lab.numbers.map((n) => [n.what, n.kind, n.smoke?.min, n.smoke?.max, n.full?.min, n.full?.max]),
    [
      ['prompt tokens', 'count', 15, 15, 15, 15],
      ['KV bytes', 'count', 6144, 6144, 6144, 6144],
      ['prefill ms', 'timing', 2, 200, 5, 60],
      ['decode steps', 'count', undefined, undefined, 30, Number.POSITIVE_INFINITY],
    ],
  );
  assert.equal(parseLabNumbers('# no table here\n'), null);
});

test('printed numbers are checked against the range of the run mode; timings only when asked', () => {
  const lab = parseLabNumbers(README)!;
  const output = 'Prompt tokens: 15\nKV bytes per token: 6,144\nprefill 80.5 ms\n';
  const smoke = checkLabNumbers(lab, output, 'smoke', { checkTimings: false });
  assert.deepEqual(
    smoke.map((c) => [c.what, c.values, c.problem]),
    [
      ['prompt tokens', [15], undefined],
      ['KV bytes', [6144], undefined],
      ['prefill ms', [80.5], undefined],
    ],
    'the smoke run has no decode-steps row, and a timing only has to be printed',
  );
  const full = checkLabNumbers(lab, output, 'full', { checkTimings: true });
  assert.match(full[2]!.problem!, /printed 80\.5; the README says 5–60/);
  assert.match(full[3]!.problem!, /not printed/);
  const wrong = checkLabNumbers(lab, 'Prompt tokens: 15\nPrompt tokens: 16\n', 'smoke', {
    checkTimings: false,
  });
  assert.match(wrong[0]!.problem!, /printed 15, 16; the README says 15/, 'every match must be in range');
});

test('malformed tables fail with the file, line and what to write instead', () => {
  assert.throws(
    () => parseLabNumbers(README.replace('Machine:', 'Box:'), 'x.md'),
    (err: Error) => err instanceof LabNumbersError && /x\.md: .*"Machine: \.\.\." line/.test(err.message),
  );
  assert.throws(
    () => parseLabNumbers(README.replace('| count  | `/Prompt', '| exact  | `/Prompt'), 'x.md'),
    /x\.md:9: kind must be count or timing/,
  );
  assert.throws(
    () => parseLabNumbers(README.replace('(\\d+)/`       | 15', '\\d+/`       | 15'), 'x.md'),
    /one capture group/,
  );
  assert.throws(() => parseRange('about 5', 'x.md:3'), /x\.md:3: range "about 5"/);
  assert.throws(() => parseRange('9–5', 'x.md:3'), /range "9–5"/);
  assert.equal(parseRange('–', 'x'), null);
  assert.deepEqual(parseRange('≤ 2.5', 'x'), { min: Number.NEGATIVE_INFINITY, max: 2.5, text: '≤ 2.5' });
});
