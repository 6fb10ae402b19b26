import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { svgProblems } from './svg-check.ts';

const ok =
  '<svg xmlns="http://www.w3.org/2000/svg" width="10"><g><rect x="1"/><text>a &amp; b</text></g></svg>';

describe('svgProblems', () => {
  it('accepts a well-formed document', () => {
    assert.deepEqual(svgProblems(ok), []);
    assert.deepEqual(svgProblems(`<?xml version="1.0"?>\n<!-- c -->${ok}\n`), []);
  });

  it('reports each kind of mistake a chart writer makes', () => {
    const cases: Array<[string, RegExp]> = [
      ['<svg xmlns="http://www.w3.org/2000/svg"><g></svg>', /closes/],
      ['<svg xmlns="http://www.w3.org/2000/svg"><g>', /unclosed/],
      ['<svg xmlns="http://www.w3.org/2000/svg"><text>a & b</text></svg>', /unescaped/],
      ['<svg xmlns="http://www.w3.org/2000/svg"><rect x=1/></svg>', /malformed tag/],
      ['<svg xmlns="http://www.w3.org/2000/svg"><circle cx="NaN"/></svg>', /non-number/],
      ['<svg width="1"></svg>', /xmlns/],
      ['<html xmlns="http://www.w3.org/2000/svg"></html>', /root element is <html>/],
      [`${ok}${ok}`, /one root element/],
    ];
    for (const [svg, problem] of cases) {
      const problems = svgProblems(svg);
      assert.ok(
        problems.some((p) => problem.test(p)),
        `${svg} → ${JSON.stringify(problems)}`,
      );
    }
  });
});
