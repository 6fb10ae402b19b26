/**
 * The lifecycle kit: `startAll`'s all-or-none start (when one of several servers fails to start, the ones
 * that started are stopped before the failure is thrown), and `killWithTestProcess` (a child dies with the
 * test process that gets the runner's SIGTERM).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { startAll } from './testing/lifecycle-kit.ts';

class FakeServer {
  stopped = false;
  async stop(): Promise<void> {
    this.stopped = true;
  }
}

const startsAfter = (ms: number, server: FakeServer) =>
  new Promise<FakeServer>((resolve) => setTimeout(() => resolve(server), ms));

describe('startAll', () => {
  it('resolves every server in order when all start', async () => {
    const a = new FakeServer();
    const b = new FakeServer();
    const [first, second] = await startAll([startsAfter(20, a), startsAfter(1, b)]);
    assert.equal(first, a);
    assert.equal(second, b);
    assert.equal(a.stopped || b.stopped, false);
  });

  it('stops the servers that started, including slower ones, then throws the first failure', async () => {
    const fast = new FakeServer();
    const slow = new FakeServer();
    const failing = Promise.reject(new Error('port 8000 in use'));
    await assert.rejects(
      startAll([startsAfter(1, fast), failing, startsAfter(30, slow)]),
      /port 8000 in use/,
    );
    assert.equal(fast.stopped, true);
    assert.equal(slow.stopped, true, 'a server that finished starting after the failure is stopped too');
  });

  it('closes what is closed rather than stopped (a frontend handle)', async () => {
    let closed = false;
    const frontend = { close: async () => void (closed = true) };
    await assert.rejects(
      startAll([Promise.resolve(frontend), Promise.reject(new Error('no port'))]),
      /no port/,
    );
    assert.equal(closed, true);
  });
});

describe('killWithTestProcess', () => {
  it('a child is killed when the test process gets the SIGTERM a test runner sends past its timeout', async () => {
    const kit = fileURLToPath(new URL('./testing/lifecycle-kit.ts', import.meta.url));
    const parentScript = `
      import { spawn } from 'node:child_process';
      import { killWithTestProcess } from ${JSON.stringify(kit)};
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      killWithTestProcess(child);
      console.log(child.pid);
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', parentScript], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(parent.stdout, 'data')) as [Buffer];
    const childPid = Number(line.toString().trim());
    assert.ok(childPid > 0, `the parent printed its child's pid, got ${line}`);
    assert.doesNotThrow(() => process.kill(childPid, 0), 'the child runs while the parent does');
    parent.kill('SIGTERM');
    const [code] = await once(parent, 'exit');
    assert.equal(code, 143, 'the parent exits as a SIGTERM-ed process does');
    const deadline = Date.now() + 10_000;
    while (isAlive(childPid)) {
      assert.ok(Date.now() < deadline, `child ${childPid} still runs 10 s after its parent was terminated`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
