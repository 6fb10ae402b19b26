import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainEngineOutput, explainEngineRequest } from './engine.ts';
import {
  destinationNotification,
  explainKvTransferParams,
  explainKvTransferRequest,
  type KvDestination,
  type KvTransferParams,
  layerNotification,
  parsePushNotification,
  parseReleaseNotification,
  pushFailedNotification,
  releaseNotification,
} from './kv-transfer.ts';

const params: KvTransferParams = {
  remoteAgent: '694d9a0c2e3f1b07',
  remoteRegion: 'kv',
  remoteRequestId: 'req-1',
  remoteBlockIds: [12, 13, 4],
  numTokens: 40,
  firstTokenId: 7,
  expiresAtMs: 1_800_000_000_000,
};

const request = {
  requestId: 'req-1',
  promptTokenIds: [1, 2, 3],
  sampling: {
    temperature: 0,
    topP: 1,
    topK: 0,
    minP: 0,
    repetitionPenalty: 1,
    presencePenalty: 0,
    frequencyPenalty: 0,
  },
  stopping: { maxTokens: 4, stopTokenIds: [], ignoreEos: false },
};

describe('kv transfer protocol', () => {
  it('accepts both hand-off shapes on an EngineRequest', () => {
    assert.equal(explainKvTransferRequest({ doRemoteDecode: true }), undefined);
    assert.equal(explainKvTransferRequest({ doRemotePrefill: params }), undefined);
    assert.equal(explainEngineRequest({ ...request, kvTransfer: { doRemotePrefill: params } }), undefined);
  });

  it('names what is wrong with a malformed hand-off', () => {
    assert.match(explainKvTransferRequest({ doRemoteDecode: false }) ?? '', /doRemoteDecode: true/);
    assert.match(
      explainKvTransferParams({ ...params, remoteBlockIds: [1, -2] }) ?? '',
      /remoteBlockIds must be an array of block ids/,
    );
    assert.match(explainKvTransferParams({ ...params, remoteAgent: '' }) ?? '', /remoteAgent/);
    assert.match(
      explainEngineRequest({ ...request, kvTransfer: { doRemotePrefill: { ...params, numTokens: 0 } } }) ??
        '',
      /numTokens must be a positive integer/,
    );
  });

  it('checks kvTransferParams on a worker output', () => {
    const out = { tokenId: 7, numCachedTokens: 0, finishReason: 'length' };
    assert.equal(explainEngineOutput({ ...out, kvTransferParams: params }), undefined);
    assert.equal(explainEngineOutput({ ...out, kvTransferParams: null }), undefined);
    assert.match(
      explainEngineOutput({ ...out, kvTransferParams: { remoteAgent: 'x' } }) ?? '',
      /remoteRegion/,
    );
  });

  it('round-trips the release notification', () => {
    assert.equal(parseReleaseNotification(releaseNotification('req-9')), 'req-9');
    assert.equal(parseReleaseNotification('hello'), undefined);
  });

  it('accepts the layer-wise shapes and names what is wrong with a malformed one', () => {
    assert.equal(explainKvTransferRequest({ doRemoteDecode: true, pushTo: { agent: 'd1' } }), undefined);
    assert.equal(explainKvTransferRequest({ awaitKvPush: { remoteAgent: 'p1' } }), undefined);
    assert.match(explainKvTransferRequest({ doRemoteDecode: true, pushTo: {} }) ?? '', /pushTo.agent/);
    assert.match(explainKvTransferRequest({ awaitKvPush: { remoteAgent: '' } }) ?? '', /remoteAgent/);
    assert.match(explainKvTransferRequest({ awaitKvPush: {}, doRemoteDecode: true }) ?? '', /awaitKvPush/);
  });

  it('round-trips the layer-wise notifications, request ids with colons included', () => {
    const destination: KvDestination = {
      agent: 'd1',
      region: 'kv',
      firstBlock: 2,
      blockIds: [40, 41, 7],
      numCachedTokens: 32,
      ttlMs: 10_000,
    };
    const id = 'cmpl-1:retry:2';
    assert.deepEqual(parsePushNotification(destinationNotification(id, destination)), {
      kind: 'destination',
      requestId: id,
      destination,
    });
    assert.deepEqual(parsePushNotification(layerNotification(id, 29)), {
      kind: 'layer',
      requestId: id,
      layer: 29,
    });
    assert.deepEqual(parsePushNotification(pushFailedNotification(id)), {
      kind: 'push_failed',
      requestId: id,
    });
    assert.equal(
      parsePushNotification(releaseNotification(id)),
      undefined,
      'a pull release is not a push message',
    );
    assert.equal(parsePushNotification('kv-layer:r1:x'), undefined);
    assert.equal(
      parsePushNotification(`kv-dest:r1:${JSON.stringify({ ...destination, blockIds: [-1] })}`),
      undefined,
    );
  });
});
