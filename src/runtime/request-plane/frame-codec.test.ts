import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameType } from '../../protocols/request-plane.ts';
import { FrameError, FrameTooLargeError } from './errors.ts';
import { encodeFrame, FrameDecoder, parsePayload } from './frame-codec.ts';

const request = { endpoint: 'generate', requestId: 'r1', window: 64, payload: { promptTokenIds: [1, 2, 3] } };

test('a frame is [u32 length][u8 type][u32 streamId][JSON], length counting everything after itself', () => {
  const frame = encodeFrame(FrameType.Data, 7, { tokenId: 42 });
  const json = Buffer.from('{"tokenId":42}');
  assert.equal(frame.readUInt32BE(0), 5 + json.length);
  assert.equal(frame.readUInt8(4), FrameType.Data);
  assert.equal(frame.readUInt32BE(5), 7);
  assert.deepEqual(frame.subarray(9), json);
  assert.equal(encodeFrame(FrameType.Cancel, 3).length, 9);
});

test('frames split at every byte boundary, or packed into one chunk, decode to the same frames', () => {
  const frames = [
    encodeFrame(FrameType.Request, 1, request),
    encodeFrame(FrameType.Cancel, 1),
    encodeFrame(FrameType.Data, 2, 'ünïcödé ✓'),
    encodeFrame(FrameType.Final, 2, {}),
  ];
  const wire = Buffer.concat(frames);
  const expected = [
    { type: FrameType.Request, streamId: 1, body: request },
    { type: FrameType.Cancel, streamId: 1, body: null },
    { type: FrameType.Data, streamId: 2, body: 'ünïcödé ✓' },
    { type: FrameType.Final, streamId: 2, body: {} },
  ];
  const readable = (decoded: ReturnType<FrameDecoder['push']>) =>
    decoded.map((f) => ({
      type: f.type,
      streamId: f.streamId,
      body: f.payload.length ? parsePayload(f) : null,
    }));

  assert.deepEqual(readable(new FrameDecoder().push(wire)), expected);
  for (let cut = 1; cut < wire.length; cut++) {
    const decoder = new FrameDecoder();
    const decoded = [...decoder.push(wire.subarray(0, cut)), ...decoder.push(wire.subarray(cut))];
    assert.deepEqual(readable(decoded), expected, `split at byte ${cut}`);
    assert.equal(decoder.bufferedBytes, 0);
  }
  const decoder = new FrameDecoder();
  const oneByOne = [...wire].flatMap((byte) => decoder.push(Buffer.from([byte])));
  assert.deepEqual(readable(oneByOne), expected);
});

test('an oversized frame is rejected from its length prefix alone, before its body arrives', () => {
  const decoder = new FrameDecoder(1024);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(0x7fff_ffff);
  assert.throws(
    () => decoder.push(header),
    (error: unknown) => {
      assert.ok(error instanceof FrameTooLargeError);
      assert.equal(error.maxFrameBytes, 1024);
      assert.match(error.message, /exceeds the 1024-byte limit/);
      return true;
    },
  );
  assert.throws(() => encodeFrame(FrameType.Data, 1, 'x'.repeat(2000), 1024), FrameTooLargeError);
});

test('a length shorter than the header, an unknown type, or a non-JSON payload is a FrameError', () => {
  assert.throws(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 2, 1, 0])), /shorter than/);
  const unknownType = encodeFrame(FrameType.Data, 1, 1);
  unknownType.writeUInt8(99, 4);
  assert.throws(() => new FrameDecoder().push(unknownType), /unknown frame type 99/);
  const [notJson] = new FrameDecoder().push(
    Buffer.concat([Buffer.from([0, 0, 0, 8, FrameType.Data, 0, 0, 0, 5]), Buffer.from('{x:')]),
  );
  assert.throws(
    () => parsePayload(notJson),
    (error: unknown) => error instanceof FrameError,
  );
});
