/** Moved to `src/util/table.ts` (the replay CLI prints tables too); re-exported so benchmarks keep their imports. */
export * from '../../src/util/table.ts';
