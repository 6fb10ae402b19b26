import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CleanupStack } from './cleanup-stack.ts';

test('disposeAll releases newest first, awaiting each cleanup before the next', async () => {
  const stack = new CleanupStack();
  const log: string[] = [];
  stack.defer(() => log.push('discovery'), 'close discovery');
  stack.defer(async () => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    log.push('engine');
  }, 'close engine');
  stack.defer(() => log.push('server'), 'stop server');
  assert.equal(stack.size, 3);
  assert.deepEqual(await stack.disposeAll(), []);
  assert.deepEqual(log, ['server', 'engine', 'discovery']);
  assert.equal(stack.size, 0);
});

test('adopt returns the value and disposes that same value', async () => {
  const stack = new CleanupStack();
  const closed: string[] = [];
  const conn = stack.adopt({ id: 'c1' }, (c) => closed.push(c.id), 'close connection');
  assert.deepEqual(conn, { id: 'c1' });
  await stack.disposeAll();
  assert.deepEqual(closed, ['c1']);
});

test('a failing cleanup is collected and the older ones still run', async () => {
  const stack = new CleanupStack();
  const log: string[] = [];
  stack.defer(() => log.push('a'), 'a');
  stack.defer(() => {
    throw new Error('b broke');
  }, 'b');
  stack.defer(() => Promise.reject(new Error('c broke')), 'c');
  stack.defer(() => log.push('d'), 'd');
  const failures = await stack.disposeAll();
  assert.deepEqual(log, ['d', 'a']);
  assert.deepEqual(
    failures.map((f) => [f.name, (f.error as Error).message]),
    [
      ['c', 'c broke'],
      ['b', 'b broke'],
    ],
  );
});

test('a second disposeAll releases nothing twice; cleanups deferred after it run at the next one', async () => {
  const stack = new CleanupStack();
  let runs = 0;
  stack.defer(() => runs++, 'count');
  await stack.disposeAll();
  await stack.disposeAll();
  assert.equal(runs, 1);
  stack.defer(() => runs++, 'count again');
  await stack.disposeAll();
  assert.equal(runs, 2);
});
