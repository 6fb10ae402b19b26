/**
 * GET /dashboard in a real browser (headless Chromium via playwright-core) against a running stack
 * (`dhw serve --engine mocker --workers 2`, a real process): the page lists both workers, and under load
 * its numbers change: the request counter, per-worker request counts, the decisions table with its cost
 * arithmetic, and the latency charts. A screenshot is saved. GET /dashboard/state is checked as JSON too.
 * Skips (saying why) only where no Chromium exists and none can be installed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../infra/free-port.ts';
import { browserSkipReason, launchChromium } from '../infra/testing/browser-kit.ts';
import { type DhwProcess, quietLogs, spawnDhw } from './testing/frontend-kit.ts';

quietLogs();
let serve: DhwProcess | undefined;
let url: string;
const dir = mkdtempSync(join(tmpdir(), 'dhw-dashboard-'));
const skip = await browserSkipReason();

before(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  serve = await spawnDhw(
    [
      'serve',
      '--engine',
      'mocker',
      '--workers',
      '2',
      '--speedup-ratio',
      '10',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
    ],
    /Serving .* at /,
    { timeoutMs: 60_000 },
  );
});
after(async () => {
  // `serve` is unset when the before hook failed: report that failure, not a TypeError here.
  serve?.child.kill('SIGTERM');
  await serve?.exited;
  rmSync(dir, { recursive: true, force: true });
});

/** `n` chat requests sharing a system prompt, `concurrency` at a time. */
async function load(n: number, concurrency = 4): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const res = await fetch(`${url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            messages: [
              {
                role: 'system',
                content: 'You are a patient fortune teller who answers in one short sentence. '.repeat(4),
              },
              { role: 'user', content: `Question number ${i}: what does the day hold?` },
            ],
            max_tokens: 12,
            stream: true,
          }),
        });
        await res.text();
      }
    }),
  );
}

test('GET /dashboard/state: workers, counters, series and decisions with arithmetic', async () => {
  await load(6);
  const state = (await (await fetch(`${url}/dashboard/state`)).json()) as {
    workers: Array<{ id: string; health: string; requests: number; kv_total_blocks: number | null }>;
    requests: { total: number };
    series: Array<{ ttftP50: number | null }>;
    decisions: Array<{ workerId: string; candidates: Array<{ formula?: string }> }>;
  };
  assert.equal(state.workers.length, 2);
  assert.ok(state.workers.every((w) => w.health === 'ok'));
  assert.ok(state.requests.total >= 6);
  assert.equal(state.workers.reduce((s, w) => s + w.requests, 0) >= 6, true, 'requests counted per worker');
  assert.ok(
    state.series.some((p) => p.ttftP50 !== null),
    'TTFT samples in the window',
  );
  assert.ok(state.decisions.length >= 6);
  assert.ok(
    state.decisions[0]!.candidates.every((c) => typeof c.formula === 'string' && c.formula.includes('=')),
  );
});

test('the dashboard in headless Chromium shows the workers and its numbers move under load', {
  skip,
}, async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${url}/dashboard`);
    await page.waitForSelector('#workers tr[data-worker-id]');
    assert.equal(await page.locator('#workers tr[data-worker-id]').count(), 2);
    const before = Number(await page.textContent('#requests-total'));
    await load(16);
    // The page's own code runs in the browser; the condition is passed as source text (no DOM types here).
    await page.waitForFunction(
      // Both counters: the total and the per-worker table (a worker's count lands when its stream is closed,
      // which can be one poll after the client has read the last byte).
      `Number(document.getElementById('requests-total')?.textContent) >= ${before + 16} &&
       [...document.querySelectorAll('#workers td.requests')].reduce((s, td) => s + Number(td.textContent), 0) >= ${before + 16}`,
      undefined,
      // Generous: on a loaded 2-core box 16 streamed requests plus the page's 1 s polls can take a while.
      { timeout: 60_000 },
    );
    const perWorker = await page.locator('#workers td.requests').allTextContents();
    assert.ok(perWorker.map(Number).reduce((a, b) => a + b, 0) >= before + 16);
    const decision = await page.locator('#decisions tbody tr').first().textContent();
    assert.match(decision ?? '', /=/, 'a decision row shows its cost arithmetic');
    assert.ok((await page.locator('#ttft-chart canvas').count()) > 0, 'the TTFT chart is drawn');
    assert.equal(await page.textContent('#error'), '', 'the page reached the frontend on every poll');
    const shot = join(dir, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 10_000);
    console.log(`# dashboard screenshot: ${shot}`);
  } finally {
    await browser.close();
  }
});
