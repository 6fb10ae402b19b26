import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { launchServer } from './server-process.ts';
import { captureStderrUntil } from './testing/stderr-kit.ts';

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
  let report: string | undefined;
  let written: string[] = [];
  let server: Awaited<ReturnType<typeof launchServer>> | undefined;
  try {
    ({ report, written } = await captureStderrUntil('[infra] crashy', async () => {
      server = await launchServer({
        name: 'crashy',
        binary: 'bash',
        args: ['-c', script],
        isReady: async () => existsSync(marker),
        readyTimeoutMs: 10_000,
      });
    }));
    await server?.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(report, `no report on stderr: ${JSON.stringify(written).slice(0, 500)}`);
  assert.match(report, /exited with code 2 while in use/);
  assert.match(report, /panic: runtime error: slice bounds out of range/, 'the panic line itself');
  assert.match(report, /frame400/, 'and the last frames');
  assert.ok(report.length < 6000, `bounded: ${report.length} chars`);
});
