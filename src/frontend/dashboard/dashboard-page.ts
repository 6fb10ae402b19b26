/**
 * GET /dashboard: one self-contained HTML page (no build step: plain JS in the page, uPlot for the charts,
 * served from node_modules at /dashboard/uplot.*). It polls GET /dashboard/state once a second and redraws:
 * a summary line, the worker table (health, KV usage, queue, hit rate), TTFT/ITL/requests charts over the
 * last minutes, and the last routing decisions with their cost arithmetic. Like a load balancer's status
 * page (HAProxy's stats page): read-only, refreshes itself, works from any browser.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { RequestContext, ServerState } from '../request-context.ts';

const require = createRequire(import.meta.url);
const ASSETS: Record<string, { file: string; type: string }> = {
  '/dashboard/uplot.min.js': { file: 'uplot/dist/uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/uplot.min.css': { file: 'uplot/dist/uPlot.min.css', type: 'text/css; charset=utf-8' },
};
const assetCache = new Map<string, Buffer>();

export function handleDashboardAsset(_server: ServerState, ctx: RequestContext): void {
  const path = (ctx.req.url ?? '').split('?')[0]!;
  const asset = ASSETS[path]!;
  let body = assetCache.get(path);
  if (body === undefined) {
    body = readFileSync(require.resolve(asset.file));
    assetCache.set(path, body);
  }
  ctx.res.writeHead(200, {
    'content-type': asset.type,
    'content-length': body.length,
    'cache-control': 'max-age=3600',
  });
  ctx.res.end(body);
}

export const DASHBOARD_ASSET_PATHS = Object.keys(ASSETS);

export function handleDashboardPage(_server: ServerState, ctx: RequestContext): void {
  const body = Buffer.from(PAGE);
  ctx.res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': body.length,
    'cache-control': 'no-store',
  });
  ctx.res.end(body);
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>dhw dashboard</title>
<link rel="stylesheet" href="/dashboard/uplot.min.css">
<style>
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 16px 24px; color: #222; }
  h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 20px 0 6px; }
  .muted { color: #777; } .summary span { margin-right: 18px; } .summary b { font-variant-numeric: tabular-nums; }
  table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th, td { padding: 3px 10px; border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
  th { background: #f6f6f6; } td.l, th.l { text-align: left; }
  .ok { color: #2a7a2a; } .busy { color: #b36b00; } .quarantined { color: #b00020; font-weight: bold; }
  .bar { display: inline-block; width: 80px; height: 8px; background: #eee; vertical-align: middle; margin-right: 6px; }
  .bar i { display: block; height: 8px; background: #4e79a7; }
  .charts { display: flex; flex-wrap: wrap; gap: 12px; }
  .formula { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; color: #444; white-space: normal; text-align: left; }
  #error { color: #b00020; }
</style>
</head>
<body>
<h1>Dynamo the Hard Way — frontend dashboard</h1>
<div class="muted">models: <span id="models">…</span> · updated <span id="updated">never</span> · <span id="error"></span></div>
<div class="summary" style="margin-top:8px">
  <span>requests <b id="requests-total">0</b></span>
  <span>in flight <b id="in-flight">0</b></span>
  <span>ok <b id="requests-ok">0</b></span>
  <span>client errors <b id="client-errors">0</b></span>
  <span>server errors <b id="server-errors">0</b></span>
  <span>cancelled <b id="cancelled">0</b></span>
  <span>migrations <b id="migrations">0</b></span>
  <span>uptime <b id="uptime">0</b> s</span>
</div>
<h2>Workers</h2>
<table id="workers"><thead><tr>
  <th class="l">worker</th><th class="l">model</th><th class="l">role</th><th class="l">address</th><th class="l">health</th>
  <th class="l">KV usage</th><th>blocks</th><th>running</th><th>waiting</th><th>prefill tokens</th><th>requests</th><th>prefix hit</th>
</tr></thead><tbody><tr><td class="l muted" colspan="12">no workers yet</td></tr></tbody></table>
<h2>Last minutes (5 s buckets)</h2>
<div class="charts"><div id="ttft-chart"></div><div id="itl-chart"></div><div id="rate-chart"></div></div>
<h2>Last routing decisions</h2>
<table id="decisions"><thead><tr>
  <th class="l">time</th><th class="l">request</th><th class="l">chosen</th><th class="l">reason</th><th>prompt tokens</th><th>overlap blocks</th><th class="l">cost per worker</th>
</tr></thead><tbody></tbody></table>
<script src="/dashboard/uplot.min.js"></script>
<script>
const $ = (id) => document.getElementById(id);
const fmt = (x, d = 1) => (x === null || x === undefined ? '–' : Number(x).toFixed(d));
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const charts = {};
function chart(id, title, yLabel, names) {
  const series = [{}].concat(names.map((n, i) => ({ label: n, stroke: ['#4e79a7', '#e15759', '#59a14f'][i], width: 2, spanGaps: true })));
  return new uPlot({ title, width: 420, height: 220, series, axes: [{}, { label: yLabel }], scales: { x: { time: true } } },
    [[]].concat(names.map(() => [])), $(id));
}
function render(s) {
  $('models').textContent = s.models.join(', ') || 'none';
  $('updated').textContent = new Date(s.generated_at).toLocaleTimeString();
  $('error').textContent = '';
  $('requests-total').textContent = s.requests.total;
  $('in-flight').textContent = s.requests.in_flight;
  $('requests-ok').textContent = s.requests.ok;
  $('client-errors').textContent = s.requests.client_error;
  $('server-errors').textContent = s.requests.server_error;
  $('cancelled').textContent = s.requests.cancelled;
  $('migrations').textContent = s.migrations;
  $('uptime').textContent = s.uptime_s;
  const rows = s.workers.map((w) => {
    const usage = w.kv_usage === null ? '–' : '<span class="bar"><i style="width:' + Math.round(100 * w.kv_usage) + '%"></i></span>' + fmt(100 * w.kv_usage) + ' %';
    return '<tr data-worker-id="' + esc(w.id) + '"><td class="l">' + esc(w.id) + '</td><td class="l">' + esc(w.model) + '</td><td class="l">' + w.role +
      '</td><td class="l">' + esc(w.address) + '</td><td class="l ' + w.health + '">' + w.health + '</td><td class="l">' + usage +
      '</td><td>' + (w.kv_total_blocks === null ? '–' : w.kv_used_blocks + ' / ' + w.kv_total_blocks) + '</td><td>' + fmt(w.running, 0) +
      '</td><td>' + fmt(w.waiting, 0) + '</td><td>' + fmt(w.prefill_tokens, 0) + '</td><td class="requests">' + w.requests +
      '</td><td>' + (w.hit_rate === null ? '–' : fmt(100 * w.hit_rate) + ' %') + '</td></tr>';
  });
  $('workers').tBodies[0].innerHTML = rows.join('') || '<tr><td class="l muted" colspan="12">no workers yet</td></tr>';
  const t = s.series.map((p) => p.t / 1000);
  charts.ttft.setData([t, s.series.map((p) => p.ttftP50), s.series.map((p) => p.ttftP99)]);
  charts.itl.setData([t, s.series.map((p) => p.itlP50), s.series.map((p) => p.itlP99)]);
  charts.rate.setData([t, s.series.map((p) => p.requests / (s.bucket_ms / 1000)), s.series.map((p) => p.errors / (s.bucket_ms / 1000))]);
  $('decisions').tBodies[0].innerHTML = s.decisions.map((d) =>
    '<tr><td class="l">' + new Date(d.at).toLocaleTimeString() + '</td><td class="l">' + esc(d.requestId) + '</td><td class="l">' + esc(d.workerId) +
    '</td><td class="l">' + esc(d.reason) + '</td><td>' + d.promptTokens + '</td><td>' + d.overlapBlocks + '</td><td class="formula">' +
    d.candidates.map((c) => esc(c.workerId) + ': ' + esc(c.formula ?? String(c.cost))).join('<br>') + '</td></tr>').join('');
}
async function poll() {
  try {
    const res = await fetch('/dashboard/state', { cache: 'no-store' });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    render(await res.json());
  } catch (err) {
    $('error').textContent = 'cannot reach the frontend: ' + err.message;
  }
}
charts.ttft = chart('ttft-chart', 'Time to first token', 'ms', ['p50', 'p99']);
charts.itl = chart('itl-chart', 'Inter-token latency', 'ms', ['p50', 'p99']);
charts.rate = chart('rate-chart', 'Requests', 'per second', ['finished', 'errors']);
poll();
setInterval(poll, 1000);
</script>
</body>
</html>
`;
