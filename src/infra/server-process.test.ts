import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { launchServer } from './server-process.ts';

test('a server that crashes with a long Go-style dump is reported with the panic line, not only the last frames', async () => {
  // A stand-in server: ready once its marker file exists, then it "panics" with 20 KB of goroutine traces.
  const dir = mkdtempSync(join(tmpdir(), 'dhw-crash-'));
  const marker = join(dir, 'ready');
  const script = [
    `touch ${marker}`,
    'sleep 0.3',
    'echo "panic: runtime error: slice bounds out of range [:25] with capacity 20" >&2',
    'echo "" >&2',
    'echo "goroutine 42 [running]:" >&2',
    'for i in $(seq 1 400); do echo "github.com/nats-io/nats-server/server.(*client).frame$i(0xc000288000)" >&2; done',
    'exit 2',
  ].join('\n');
  const written: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    const server = await launchServer({
      name: 'crashy',
      binary: 'bash',
      args: ['-c', script],
      isReady: async () => existsSync(marker),
      readyTimeoutMs: 10_000,
    });
    const deadline = Date.now() + 10_000;
    while (!written.some((w) => w.includes('[infra] crashy')) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await server.stop();
  } finally {
    process.stderr.write = write;
    rmSync(dir, { recursive: true, force: true });
  }
  const report = written.find((w) => w.includes('[infra] crashy'));
  assert.ok(report, `no report on stderr: ${JSON.stringify(written).slice(0, 500)}`);
  assert.match(report, /exited with code 2 while in use/);
  assert.match(report, /panic: runtime error: slice bounds out of range/, 'the panic line itself');
  assert.match(report, /frame400/, 'and the last frames');
  assert.ok(report.length < 6000, `bounded: ${report.length} chars`);
});
