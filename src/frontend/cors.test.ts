/**
 * CORS through a real `dhw serve` process: off by default (no Access-Control headers, a browser page on
 * another origin cannot read answers); with `--allowed-origins`, a listed origin gets the header on every
 * answer and a 204 preflight naming the methods and headers, and an unlisted origin gets nothing.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { freePort } from '../infra/free-port.ts';
import { type DhwProcess, quietLogs, spawnDhw } from './testing/frontend-kit.ts';

quietLogs();
const running: DhwProcess[] = [];
after(async () => {
  for (const p of running) {
    p.child.kill('SIGTERM');
    await p.exited;
  }
});

async function serve(extra: string[]): Promise<string> {
  const port = await freePort();
  const p = await spawnDhw(
    ['serve', '--engine', 'mocker', '--host', '127.0.0.1', '--port', String(port), ...extra],
    /Serving .* at /,
    { timeoutMs: 60_000 },
  );
  running.push(p);
  return `http://127.0.0.1:${port}`;
}

test('CORS: off by default; --allowed-origins answers preflights and tags answers for listed origins only', async () => {
  const closed = await serve([]);
  const plain = await fetch(`${closed}/v1/models`, { headers: { origin: 'https://app.example' } });
  assert.equal(plain.headers.get('access-control-allow-origin'), null);

  const open = await serve(['--allowed-origins', 'https://app.example,https://other.example/']);
  const preflight = await fetch(`${open}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: {
      origin: 'https://app.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example');
  assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
  assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/);
  const answer = await fetch(`${open}/v1/models`, { headers: { origin: 'https://other.example' } });
  assert.equal(answer.status, 200);
  assert.equal(
    answer.headers.get('access-control-allow-origin'),
    'https://other.example',
    'trailing slash in the flag ignored',
  );
  const stranger = await fetch(`${open}/v1/models`, { headers: { origin: 'https://evil.example' } });
  assert.equal(stranger.headers.get('access-control-allow-origin'), null);
});
