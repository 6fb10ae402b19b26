import { createRequire } from "node:module"; const require = createRequire(import.meta.url);
import { spawn } from 'node:child_process';
import { postRequestBytes, RawHttpConnection } from './bench/lib/raw-http-client.ts';
const ports = (process.env.PORTS ?? '18101,18102').split(',').map(Number);
const procs = ports.map((port) => spawn('node', ['bin/dhw.mjs', 'serve', '--engine', 'mocker', '--speedup-ratio', '0', '--workers', '2', '--router', 'round-robin', '--port', String(port), '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] }));
const PROMPT = Array.from({ length: 64 }, (_, i) => `w${i}`).join(' ');
const body = JSON.stringify({ model: 'fortune-llama', prompt: PROMPT, max_tokens: 8, ignore_eos: true });
for (const port of ports) { for (;;) { try { const r = await fetch(`http://127.0.0.1:${port}/health`); if (r.status === 200) break; } catch {} await new Promise((r) => setTimeout(r, 300)); } }
const conc = Number(process.env.C ?? 64);
const conns = await Promise.all(Array.from({ length: conc }, (_, i) => { const url = new URL(`http://127.0.0.1:${ports[i % ports.length]}/v1/completions`); return RawHttpConnection.open(url, postRequestBytes(url, body)); }));
const cpu = (pid: number) => { const f = (require('node:fs') as typeof import('node:fs')).readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
for (let round = 0; round < 4; round++) {
  let n = 0, bad = 0; const end = performance.now() + 4000;
  const c0 = procs.map((p) => cpu(p.pid!)); const cc0 = process.cpuUsage();
  await Promise.all(conns.map(async (c) => { while (performance.now() < end) { const s = await c.send(); if (s === 200) n++; else bad++; } }));
  const c1 = procs.map((p) => cpu(p.pid!)); const cc1 = process.cpuUsage(cc0);
  const el = 4;
  console.log(`round ${round}: ${Math.round(n / el)} req/s, bad ${bad}, server µs/req ${c1.map((v, i) => Math.round(((v - c0[i]!) * 1e6) / n)).join('+')}, client µs/req ${Math.round((cc1.user + cc1.system) / n)}`);
}
for (const c of conns) c.close();
for (const p of procs) p.kill('SIGTERM');
process.exit(0);
