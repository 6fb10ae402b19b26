import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type InstanceInfo, isHostPort, isInstanceInfo, isModelCard, type ModelCard } from './discovery.ts';
import { MOCKER_STEP_TIMING, prefillStepMs, scaleStepTiming } from './step-timing.ts';

const instance: InstanceInfo = {
  namespace: 'dynamo',
  component: 'backend',
  endpoint: 'generate',
  instanceId: '694d9a0c2e3f1680',
  transport: { tcp: '127.0.0.1:41234' },
  systemPort: 9090,
};

const card: ModelCard = {
  displayName: 'fortune-llama',
  modelType: 'chat',
  tokenizer: { kind: 'model-dir', path: '/models/fortune-llama' },
  contextLength: 2048,
  kvCacheBlockSize: 16,
  totalKvBlocks: 1024,
  maxNumSeqs: 64,
  maxNumBatchedTokens: 2048,
  eosTokenIds: [2],
};

test('isInstanceInfo accepts a full record and survives a JSON round trip', () => {
  assert.ok(isInstanceInfo(instance));
  assert.ok(isInstanceInfo(JSON.parse(JSON.stringify(instance))));
});

test('isInstanceInfo rejects a bad transport, id or missing name', () => {
  assert.equal(isInstanceInfo({ ...instance, transport: { tcp: '127.0.0.1' } }), false);
  assert.equal(isInstanceInfo({ ...instance, transport: { tcp: 'h:70000' } }), false);
  assert.equal(isInstanceInfo({ ...instance, instanceId: 'XYZ' }), false);
  assert.equal(isInstanceInfo({ ...instance, endpoint: '' }), false);
  assert.equal(isInstanceInfo({ ...instance, systemPort: -1 }), false);
});

test('isModelCard accepts a full card and rejects wrong types and limits', () => {
  assert.ok(isModelCard(card));
  assert.equal(isModelCard({ ...card, modelType: 'embedding' }), false);
  assert.equal(isModelCard({ ...card, kvCacheBlockSize: 0 }), false);
  assert.equal(isModelCard({ ...card, tokenizer: { kind: 'hub', path: 'x' } }), false);
  assert.equal(isModelCard({ ...card, eosTokenIds: [-1] }), false);
});

test('a card may carry the step-time model; a malformed one is refused', () => {
  const published = { ...card, stepTiming: MOCKER_STEP_TIMING };
  assert.ok(isModelCard(JSON.parse(JSON.stringify(published))));
  assert.equal(
    isModelCard({ ...card, stepTiming: { prefill: [1, 2], decode: [1, 2, 3], decodeMinMs: 1 } }),
    false,
  );
  assert.equal(isModelCard({ ...card, stepTiming: 'fast' }), false);
});

test('scaleStepTiming divides every step time by the speedup ratio; none for a mocker that does not wait', () => {
  assert.equal(scaleStepTiming(MOCKER_STEP_TIMING, 1), MOCKER_STEP_TIMING);
  const twice = scaleStepTiming(MOCKER_STEP_TIMING, 2)!;
  for (const tokens of [1, 512, 8192]) {
    assert.ok(Math.abs(prefillStepMs(twice, tokens) - prefillStepMs(MOCKER_STEP_TIMING, tokens) / 2) < 1e-9);
  }
  assert.equal(twice.decodeMinMs, MOCKER_STEP_TIMING.decodeMinMs / 2);
  assert.equal(scaleStepTiming(MOCKER_STEP_TIMING, 0), undefined);
});

test('isHostPort', () => {
  assert.ok(isHostPort('[::1]:8080'));
  assert.ok(isHostPort('worker-3.local:1'));
  assert.equal(isHostPort(':80'), false);
  assert.equal(isHostPort('host:0'), false);
});

test('isModelCard accepts an object store source and rejects a malformed one', () => {
  const sum = `sha256:${'ab'.repeat(32)}`;
  const tokenizer = {
    kind: 'nats-object-store',
    bucket: 'fortune-llama',
    mdcsum: sum,
    files: [
      { name: 'tokenizer.json', checksum: sum, size: 10 },
      { name: 'chat_template.jinja', checksum: sum, size: 3 },
    ],
    workerPath: '/models/fortune-llama',
  };
  assert.ok(isModelCard({ ...card, tokenizer }));
  assert.ok(isModelCard(JSON.parse(JSON.stringify({ ...card, tokenizer }))));
  const bad = (patch: Record<string, unknown>) =>
    isModelCard({ ...card, tokenizer: { ...tokenizer, ...patch } });
  assert.equal(bad({ bucket: 'has space' }), false);
  assert.equal(bad({ mdcsum: 'blake3:abc' }), false);
  assert.equal(
    bad({ files: [{ name: 'chat_template.jinja', checksum: sum, size: 3 }] }),
    false,
    'no tokenizer.json',
  );
  assert.equal(bad({ files: [tokenizer.files[0], tokenizer.files[0]] }), false, 'a file twice');
  assert.equal(bad({ files: [{ name: 'model.safetensors', checksum: sum, size: 1 }] }), false);
  assert.equal(bad({ files: [{ name: 'tokenizer.json', checksum: 'sha256:XY', size: 1 }] }), false);
});
