/**
 * Process hygiene: `npm start &` runs npm → sh → node, and killing npm's pid never signals node. A
 * long-running command must notice that the process that started it is gone and shut down, freeing its
 * port. Emulated here with a launcher process that starts `dhw serve` and is then killed with SIGKILL.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from '../../infra/free-port.ts';
import { repoRoot } from '../../util/paths.ts';

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

test('`dhw serve` exits when the process that started it is killed (npm start & + kill)', async () => {
  const port = await freePort();
  const dhw = join(repoRoot, 'bin', 'dhw.mjs');
  const args = [
    'serve',
    '--engine',
    'mocker',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--log-level',
    'warn',
  ];
  // The launcher plays npm: it starts dhw through a shell and then just waits.
  const launcher = spawn(
    process.execPath,
    [
      '-e',
      `require('node:child_process').spawn('sh', ['-c', ${JSON.stringify(`exec "${process.execPath}" "${dhw}" ${args.join(' ')}`)}], { stdio: 'ignore' }); setInterval(() => {}, 1000);`,
    ],
    { stdio: 'ignore' },
  );
  try {
    const url = `http://127.0.0.1:${port}/live`;
    assert.ok(await until(() => answers(url), 60_000), 'dhw serve came up');
    launcher.kill('SIGKILL');
    assert.ok(
      await until(async () => !(await answers(url)), 15_000),
      'dhw serve shut down once its parent was gone',
    );
  } finally {
    launcher.kill('SIGKILL');
  }
});
