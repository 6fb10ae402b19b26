import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeXml, formatTick, niceTicks, renderChart } from './svg-chart.ts';
import { svgProblems } from './svg-check.ts';

describe('niceTicks / formatTick', () => {
  it('covers the range with 1-2-2.5-5 steps', () => {
    assert.deepEqual(niceTicks(0, 100), [0, 20, 40, 60, 80, 100]);
    assert.deepEqual(niceTicks(0, 9), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(niceTicks(0.1, 0.9), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(13, 47), [10, 20, 30, 40, 50]);
  });

  it('widens a zero-width range instead of dividing by zero', () => {
    const ticks = niceTicks(5, 5);
    assert.ok(ticks[0]! < 5 && ticks[ticks.length - 1]! > 5);
    assert.ok(niceTicks(0, 0).length >= 2);
  });

  it('labels ticks with the decimals the step needs, thousands as k', () => {
    assert.equal(formatTick(40, 20), '40');
    assert.equal(formatTick(0.4, 0.2), '0.4');
    assert.equal(formatTick(7.5, 2.5), '7.5');
    assert.equal(formatTick(20000, 5000), '20k');
  });
});

describe('renderChart', () => {
  const panel = {
    title: 'Throughput',
    xLabel: 'concurrent sequences',
    yLabel: 'tokens / s',
    xScale: 'log2' as const,
    series: [
      {
        name: 'aggregate',
        points: [
          [1, 120],
          [2, 200],
          [4, 310],
          [32, 700],
        ] as [number, number][],
      },
      {
        name: 'p99 <&> "odd"',
        points: [
          [1, 5],
          [2, Number.NaN],
          [4, 9],
        ] as [number, number][],
        dashed: true,
      },
    ],
  };

  it('writes a well-formed SVG with titles, labels, legend and one marker per finite point', () => {
    const svg = renderChart({ title: 'Batching & latency', subtitle: 'machine', panels: [panel, panel] });
    assert.deepEqual(svgProblems(svg), []);
    assert.ok(svg.includes('Batching &amp; latency'));
    assert.ok(svg.includes('p99 &lt;&amp;&gt; &quot;odd&quot;'));
    assert.equal(svg.match(/<circle /g)?.length, 2 * (4 + 2), 'the NaN point is skipped');
    assert.ok(svg.includes('stroke-dasharray'));
    assert.equal(svg.match(/<g transform="translate\(/g)?.length, 2);
  });

  it('puts log2 x ticks at the powers of two and spaces them evenly', () => {
    const svg = renderChart({ panels: [panel] });
    const labels = [...svg.matchAll(/text-anchor="middle" font-size="11"[^>]*>(\d+)<\/text>/g)].map(
      (m) => m[1],
    );
    assert.deepEqual(labels, ['1', '2', '4', '8', '16', '32']);
    const xs = [...svg.matchAll(/<line x1="([\d.]+)" y1="[\d.]+" x2="\1" y2="[\d.]+" stroke="#333"\/>/g)].map(
      (m) => Number(m[1]),
    );
    const gaps = xs.slice(1).map((x, i) => x - xs[i]!);
    for (const gap of gaps) assert.ok(Math.abs(gap - gaps[0]!) < 0.2, `even spacing: ${gaps}`);
  });

  it('stays well-formed with empty or single-point series', () => {
    const svg = renderChart({
      panels: [
        { title: 'empty', xLabel: 'x', yLabel: 'y', series: [] },
        { title: 'one', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [[3, 3]] }] },
      ],
    });
    assert.deepEqual(svgProblems(svg), []);
  });

  it('escapes XML metacharacters', () => {
    assert.equal(escapeXml('a<b>&"c"'), 'a&lt;b&gt;&amp;&quot;c&quot;');
  });
});
