/**
 * The data connection's wire format: a control header, then (for READ answers and WRITE requests) the raw
 * bytes of the blocks — one request per descriptor list, never one round trip per block.
 *
 *     frame   = u32 LE header length | header (UTF-8 JSON) | payload (header.bytes raw bytes, or nothing)
 *
 *     initiator                                target (the agent that owns the region)
 *       read  {region, layout, layers, blockIds, bytes}  ─▶
 *                                             ◀─ ok {bytes} | KV bytes in wire order     (or error {name, message})
 *       notif {message}  ─▶                      (after the bytes arrived; no answer)
 *
 *       write {region, layout, layers, blockIds, bytes, notif?} | KV bytes ─▶
 *                                             ◀─ ok {bytes}                             (or error {name, message})
 *
 * Wire order of the payload: layer by layer, K before V, blocks in descriptor-list order (region.ts).
 * The initiator's layout travels with every request, so a target re-checks it against its own region even
 * if the metadata the initiator used was stale.
 */
import { TransferProtocolError } from './errors.ts';
import { type KvLayout, layoutProblem } from './layout.ts';
import type { LayerRange } from './region.ts';

/** A READ or WRITE of one descriptor list, as the target sees it (its own region and block ids). */
export interface TransferHeader {
  type: 'read' | 'write';
  /** The initiating agent, for logs and notifications. */
  from: string;
  region: string;
  /** The initiator's layout: the target refuses a mismatch with its own. */
  layout: KvLayout;
  layers: LayerRange;
  blockIds: number[];
  /** Payload size; both sides compute it from the layout and check it. */
  bytes: number;
  /** WRITE only: delivered to the target once the bytes are in its memory. */
  notif?: string;
}

export interface NotifHeader {
  type: 'notif';
  from: string;
  message: string;
}

export type RequestHeader = TransferHeader | NotifHeader;

export type ResponseHeader = OkResponseHeader | { type: 'error'; name: string; message: string };

/**
 * `ok`; the shared-memory backend (shm-transport.ts) adds where the READ's bytes wait instead of sending
 * them: a file and its order ('blocks': the owner's block-major mirror; 'wire': staged for this request).
 */
export interface OkResponseHeader {
  type: 'ok';
  bytes: number;
  file?: string;
  order?: 'blocks' | 'wire';
}

/** Headers are small (a 4,096-block list is ~25 KB of JSON); anything far larger is a stray byte stream. */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;

export function encodeFrame(header: RequestHeader | ResponseHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const frame = Buffer.allocUnsafe(4 + json.length);
  frame.writeUInt32LE(json.length, 0);
  json.copy(frame, 4);
  return frame;
}

export function headerLength(prefix: Uint8Array): number {
  const n = Buffer.from(prefix.buffer, prefix.byteOffset, 4).readUInt32LE(0);
  if (n === 0 || n > MAX_HEADER_BYTES)
    throw new TransferProtocolError(
      `header length ${n} is out of range (1..${MAX_HEADER_BYTES}): the peer is not a transfer agent or the stream lost sync`,
    );
  return n;
}

function parseJson(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (cause) {
    throw new TransferProtocolError('header is not valid JSON: the peer is not a transfer agent', { cause });
  }
  if (typeof value !== 'object' || value === null)
    throw new TransferProtocolError('header is not a JSON object');
  return value as Record<string, unknown>;
}

function isIntArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((x) => Number.isInteger(x));
}

/** Validate a request header at the edge; throws TransferProtocolError saying which field is wrong. */
export function decodeRequest(bytes: Uint8Array): RequestHeader {
  const h = parseJson(bytes);
  if (h.type === 'notif') {
    if (typeof h.from !== 'string' || typeof h.message !== 'string')
      throw new TransferProtocolError('notif header needs string fields from and message');
    return { type: 'notif', from: h.from, message: h.message };
  }
  if (h.type !== 'read' && h.type !== 'write')
    throw new TransferProtocolError(
      `unknown request type ${JSON.stringify(h.type)} (expected read, write or notif)`,
    );
  const problem = layoutProblem(h.layout);
  if (problem) throw new TransferProtocolError(`${h.type} header: ${problem}`);
  const layers = h.layers as LayerRange | undefined;
  if (typeof h.from !== 'string' || typeof h.region !== 'string')
    throw new TransferProtocolError(`${h.type} header needs string fields from and region`);
  if (!layers || !Number.isInteger(layers.start) || !Number.isInteger(layers.end))
    throw new TransferProtocolError(`${h.type} header needs layers {start, end}`);
  if (!isIntArray(h.blockIds)) throw new TransferProtocolError(`${h.type} header needs blockIds: integer[]`);
  if (!Number.isInteger(h.bytes) || (h.bytes as number) < 0)
    throw new TransferProtocolError(`${h.type} header needs bytes: a non-negative integer`);
  if (h.notif !== undefined && typeof h.notif !== 'string')
    throw new TransferProtocolError(`${h.type} header: notif must be a string`);
  return {
    type: h.type,
    from: h.from,
    region: h.region,
    layout: h.layout as KvLayout,
    layers: { start: layers.start, end: layers.end },
    blockIds: h.blockIds,
    bytes: h.bytes as number,
    ...(h.notif !== undefined ? { notif: h.notif as string } : {}),
  };
}

export function decodeResponse(bytes: Uint8Array): ResponseHeader {
  const h = parseJson(bytes);
  if (h.type === 'ok' && Number.isInteger(h.bytes)) {
    const ok: OkResponseHeader = { type: 'ok', bytes: h.bytes as number };
    if (typeof h.file === 'string' && (h.order === 'blocks' || h.order === 'wire')) {
      ok.file = h.file;
      ok.order = h.order;
    }
    return ok;
  }
  if (h.type === 'error' && typeof h.name === 'string' && typeof h.message === 'string')
    return { type: 'error', name: h.name, message: h.message };
  throw new TransferProtocolError(`not a response header: ${JSON.stringify(h).slice(0, 200)}`);
}

/** Total bytes of a list of views. */
export function totalBytes(views: readonly Uint8Array[]): number {
  let n = 0;
  for (const v of views) n += v.byteLength;
  return n;
}
