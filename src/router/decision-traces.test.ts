/**
 * Every built-in policy's decisions on seeded random event streams (`testing/decision-trace-kit.ts`), held
 * against `decision-traces.json`, recorded on the commit before the decision path moved to reused
 * views and typed-array scratch: the choices, the views each policy was offered, the costs and the logged
 * arithmetic must stay bit-identical. A deliberate change to a policy re-records the fixture:
 * `UPDATE_DECISION_TRACES=1 node scripts/run-tests.mjs decision-traces`, and the diff shows what moved.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { decisionTraceSpecs, runDecisionTrace } from './testing/decision-trace-kit.ts';

const FIXTURE = new URL('./decision-traces.json', import.meta.url);

const specName = (s: ReturnType<typeof decisionTraceSpecs>[number]) =>
  `${s.policy} seed=${s.seed} workers=${s.workers} steps=${s.steps}` +
  `${s.temperature === undefined ? '' : ` T=${s.temperature}`}${s.explain ? ' explain' : ''}`;

describe('decision traces (old and new decision path agree)', () => {
  const specs = decisionTraceSpecs();
  if (process.env.UPDATE_DECISION_TRACES === '1') {
    const recorded = Object.fromEntries(specs.map((s) => [specName(s), runDecisionTrace(s)]));
    writeFileSync(FIXTURE, `${JSON.stringify(recorded, null, 1)}\n`);
  }
  const expected = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, string[]>;
  for (const spec of specs) {
    it(`${specName(spec)}: same choices, views, costs and arithmetic`, () => {
      const want = expected[specName(spec)];
      assert.ok(want, `no recorded trace for "${specName(spec)}": re-record with UPDATE_DECISION_TRACES=1`);
      const got = runDecisionTrace(spec);
      assert.ok(want.filter((l) => !l.startsWith('error')).length > 50, 'the stream routes requests');
      for (let i = 0; i < want.length; i++) {
        assert.equal(got[i], want[i], `decision ${i} differs`);
      }
      assert.equal(got.length, want.length);
    });
  }
});
