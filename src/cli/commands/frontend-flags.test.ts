/**
 * `dhw frontend`'s disaggregation flags (DISAGG_FLAGS, shared with `dhw serve`): Dynamo's defaults,
 * explicit values, and a usage error naming the flag for anything that is not a count.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DISAGG_DEFAULTS } from '../../router/index.ts';
import { UsageError } from '../args.ts';
import { DISAGG_FLAGS, disaggOptionsFromFlags, routingOptionsFromFlags } from './frontend.ts';

test('disaggregation flags: defaults are DISAGG_DEFAULTS, values are read as counts', () => {
  assert.equal(DISAGG_FLAGS['max-local-prefill-length']?.default, '1000');
  assert.equal(DISAGG_FLAGS['max-prefill-queue-size']?.default, '2');
  assert.deepEqual(disaggOptionsFromFlags({}), { disagg: DISAGG_DEFAULTS, kvTransferMode: 'whole' });
  assert.deepEqual(
    disaggOptionsFromFlags({ 'max-local-prefill-length': '0', 'max-prefill-queue-size': '5' }),
    { disagg: { maxLocalPrefillLength: 0, maxPrefillQueueSize: 5 }, kvTransferMode: 'whole' },
  );
});

test('--kv-transfer-mode: whole by default, layerwise on request, anything else names the flag and the choices', () => {
  assert.equal(DISAGG_FLAGS['kv-transfer-mode']?.default, 'whole');
  assert.equal(disaggOptionsFromFlags({ 'kv-transfer-mode': 'layerwise' }).kvTransferMode, 'layerwise');
  assert.throws(
    () => disaggOptionsFromFlags({ 'kv-transfer-mode': 'streaming' }),
    (err: unknown) =>
      err instanceof UsageError &&
      err.message.includes('--kv-transfer-mode') &&
      err.message.includes('layerwise'),
  );
});

test('disaggregation flags: a negative, fractional or non-numeric value is a usage error naming the flag', () => {
  for (const [flag, value] of [
    ['max-local-prefill-length', '-1'],
    ['max-local-prefill-length', '1.5'],
    ['max-prefill-queue-size', 'many'],
  ]) {
    assert.throws(
      () => disaggOptionsFromFlags({ [flag as string]: value }),
      (err: unknown) => err instanceof UsageError && err.message.includes(`--${flag}`),
    );
  }
});

test('--router-predict-blocks: on by default, off turns the predicted-block overlay off, anything else names the flag', () => {
  assert.equal(routingOptionsFromFlags({}).router?.predictBlocks, true);
  assert.equal(routingOptionsFromFlags({ 'router-predict-blocks': 'off' }).router?.predictBlocks, false);
  assert.throws(
    () => routingOptionsFromFlags({ 'router-predict-blocks': 'maybe' }),
    (err: unknown) => err instanceof UsageError && err.message.includes('--router-predict-blocks'),
  );
});

test('--router-replica-sync: unset follows the event plane, on/off force it; --router-kv-replay: snapshot by default', () => {
  assert.equal(routingOptionsFromFlags({}).routerReplicaSync, undefined);
  assert.equal(routingOptionsFromFlags({ 'router-replica-sync': 'off' }).routerReplicaSync, false);
  assert.equal(routingOptionsFromFlags({ 'router-replica-sync': 'on' }).routerReplicaSync, true);
  assert.equal(routingOptionsFromFlags({}).kvReplay, 'snapshot');
  assert.equal(routingOptionsFromFlags({ 'router-kv-replay': 'start' }).kvReplay, 'start');
  for (const [flag, value] of [
    ['router-replica-sync', 'yes'],
    ['router-kv-replay', 'everything'],
  ]) {
    assert.throws(
      () => routingOptionsFromFlags({ [flag as string]: value }),
      (err: unknown) => err instanceof UsageError && err.message.includes(`--${flag}`),
    );
  }
});

test('--router-queue-threshold / --router-queue-policy: off by default, fcfs unless wspt is named, mistakes name the fix', () => {
  assert.equal(routingOptionsFromFlags({}).router?.queue, undefined);
  assert.deepEqual(routingOptionsFromFlags({ 'router-queue-threshold': '0' }).router?.queue, {
    threshold: 0,
  });
  assert.deepEqual(
    routingOptionsFromFlags({ 'router-queue-threshold': '0.5', 'router-queue-policy': 'wspt' }).router?.queue,
    { threshold: 0.5, policy: 'wspt' },
  );
  for (const [values, message] of [
    [{ 'router-queue-policy': 'wspt' }, 'add --router-queue-threshold'],
    [{ 'router-queue-threshold': '0', 'router-queue-policy': 'lifo' }, 'takes fcfs or wspt'],
    [{ 'router-queue-threshold': '-0.5' }, '--router-queue-threshold must be ≥ 0'],
    [{ 'router-queue-threshold': 'soon' }, '--router-queue-threshold must be a number'],
  ] as const) {
    assert.throws(
      () => routingOptionsFromFlags(values),
      (err: unknown) => err instanceof UsageError && err.message.includes(message),
    );
  }
});
