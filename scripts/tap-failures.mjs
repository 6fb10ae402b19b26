// Reads the TAP stream of Node's test runner and keeps the tests that failed, so a long run can end with
// a short list of them (scripts/run-tests.mjs prints it where a CI log's tail shows it).
import { relative } from 'node:path';

/** Reads TAP lines and keeps every failing leaf test (not the suites that fail because a subtest did). */
export function createFailureCollector() {
  const failures = [];
  let open = null; // the `not ok` entry whose YAML block is being read
  let errorIndent = -1; // while reading a multi-line `error: |-` value: the indent of its key
  return {
    failures,
    line(raw) {
      const text = raw.trimStart();
      const indent = raw.length - text.length;
      const notOk = /^not ok \d+ - (.*)$/.exec(text);
      if (notOk) {
        open = { name: notOk[1], location: '', error: [], parentOnly: false };
        errorIndent = -1;
        return;
      }
      if (!open) return;
      if (errorIndent >= 0 && indent > errorIndent) {
        if (open.error.length < 4) open.error.push(text);
        return;
      }
      errorIndent = -1;
      if (text === '...') {
        if (!open.parentOnly) failures.push(open);
        open = null;
        return;
      }
      const field = /^([a-zA-Z]+): ?(.*)$/.exec(text);
      if (!field) return;
      const [, key, value] = field;
      if (key === 'location') open.location = value.replace(/^'|'$/g, '');
      if (key === 'failureType' && value.includes('subtestsFailed')) open.parentOnly = true;
      if (key === 'error') {
        if (value === '|-' || value === '|') errorIndent = indent;
        else open.error.push(value.replace(/^'|'$/g, ''));
      }
    },
  };
}

/** The failures as `#`-prefixed TAP comment lines: name, file:line relative to the working folder, error. */
export function describeFailures(title, failures) {
  const lines = [`# ${title}`];
  for (const f of failures) {
    const where = f.location ? relative(process.cwd(), f.location) : '(no location)';
    lines.push(`#   ✗ ${f.name}`, `#       at ${where}`);
    for (const e of f.error) lines.push(`#       ${e}`);
  }
  return lines.join('\n');
}
