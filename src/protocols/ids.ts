/**
 * Branded id types. At run time they are plain strings and numbers; at compile time they cannot be mixed up
 * (a RequestId is not a WorkerId, a BlockId is not a token id), the way typed handles are in systems code.
 */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type RequestId = Brand<string, 'RequestId'>;
export type WorkerId = Brand<string, 'WorkerId'>;
/** Index of a physical KV block in a worker's block pool. */
export type BlockId = Brand<number, 'BlockId'>;
/** XXH3-64 of one block's token ids alone (as a bigint: 64 bits do not fit a JS number). */
export type LocalBlockHash = Brand<bigint, 'LocalBlockHash'>;
/** XXH3-64 chained over every block up to and including this one: equal hashes mean an equal whole prefix. */
export type SequenceHash = Brand<bigint, 'SequenceHash'>;
export type LeaseId = Brand<string, 'LeaseId'>;

export const asRequestId = (s: string): RequestId => s as RequestId;
export const asWorkerId = (s: string): WorkerId => s as WorkerId;
export const asBlockId = (n: number): BlockId => n as BlockId;
