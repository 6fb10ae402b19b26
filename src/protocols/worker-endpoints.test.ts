import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RemoteErrorCode } from './request-plane.ts';
import {
  GENERATE_ENDPOINT,
  KV_SNAPSHOT_ENDPOINT,
  LOAD_ENDPOINT,
  WorkerEndpoint,
} from './worker-endpoints.ts';

// These strings are the wire: a worker and a frontend of different builds must still agree on them.
test('worker endpoint names are the ones on the wire (Dynamo: generate; ours: kv_snapshot, load)', () => {
  assert.deepEqual(WorkerEndpoint, { Generate: 'generate', KvSnapshot: 'kv_snapshot', Load: 'load' });
  assert.equal(GENERATE_ENDPOINT, 'generate');
  assert.equal(KV_SNAPSHOT_ENDPOINT, 'kv_snapshot');
  assert.equal(LOAD_ENDPOINT, 'load');
});

test('request-plane error codes are distinct wire strings, invalid_request among them', () => {
  assert.deepEqual(RemoteErrorCode, {
    HandlerError: 'handler_error',
    UnknownEndpoint: 'unknown_endpoint',
    Unavailable: 'unavailable',
    FrameTooLarge: 'frame_too_large',
    InvalidRequest: 'invalid_request',
  });
  const codes = Object.values(RemoteErrorCode);
  assert.equal(new Set(codes).size, codes.length);
});
