/**
 * What a KV transfer can fail with. Each class is a different thing to check, the way an RDMA stack
 * separates "bad memory key" (the region is not registered) from "remote access error" (out of bounds)
 * from "transport retry exceeded" (the peer is gone):
 *
 * - `UnknownRegionError`    the named region is not registered on that agent.
 * - `UnknownAgentError`     no metadata for the peer agent: not in discovery, or never added.
 * - `BlockRangeError`       a block id or layer outside the region, or descriptor lists of unequal length.
 * - `LayoutMismatchError`   the two regions disagree on block size, dtype, KV heads or head dim: copying
 *                           would produce silent garbage, so nothing is copied.
 * - `PeerClosedError`       the connection broke before the transfer finished (the peer died or closed).
 * - `TransferTimeoutError`  the transfer did not finish in time; its connection is dropped.
 * - `TransferProtocolError` bytes on the data connection that are not what the protocol allows.
 * - `AgentMetadataError`    a metadata record (from discovery or a peer) that is not valid.
 */
import { DhwError } from '../util/errors.ts';

export class TransferError extends DhwError {}

export class UnknownRegionError extends TransferError {
  static on(agent: string, region: string, known: readonly string[]): UnknownRegionError {
    return new UnknownRegionError(
      `Agent "${agent}" has no registered memory region "${region}" (registered: ${known.length ? known.join(', ') : 'none'}). ` +
        'Check the region name in the descriptor list and that the peer called registerRegion before publishing its metadata.',
    );
  }
}

export class UnknownAgentError extends TransferError {
  constructor(
    readonly agent: string,
    detail: string,
  ) {
    super(
      `No metadata for transfer agent "${agent}": ${detail}. Check that the peer is running and published its ` +
        'metadata (etcdctl get --prefix /dynamo/v1/nixl_metadata), or add it with addRemoteAgent.',
    );
  }
}

export class BlockRangeError extends TransferError {}

export class LayoutMismatchError extends TransferError {}

export class PeerClosedError extends TransferError {}

export class TransferTimeoutError extends TransferError {}

export class TransferProtocolError extends TransferError {}

export class AgentMetadataError extends TransferError {}

/** Errors a target may report over the wire, rebuilt on the initiator's side under their own class. */
const WIRE_ERRORS = {
  UnknownRegionError,
  BlockRangeError,
  LayoutMismatchError,
  TransferProtocolError,
} as const;

export type WireErrorName = keyof typeof WIRE_ERRORS;

/** The class name to put on the wire for an error a target raised (anything else is a protocol error). */
export function wireErrorName(err: unknown): WireErrorName {
  for (const name of Object.keys(WIRE_ERRORS) as WireErrorName[])
    if (err instanceof WIRE_ERRORS[name]) return name;
  return 'TransferProtocolError';
}

/** Rebuild a target's error on the initiator, prefixed with who said it. */
export function errorFromWire(name: string, message: string, peer: string): TransferError {
  const text = `peer at ${peer} refused the transfer: ${message}`;
  switch (name) {
    case 'BlockRangeError':
      return new BlockRangeError(text);
    case 'LayoutMismatchError':
      return new LayoutMismatchError(text);
    case 'UnknownRegionError':
      return new UnknownRegionError(text);
    default:
      return new TransferProtocolError(text);
  }
}
