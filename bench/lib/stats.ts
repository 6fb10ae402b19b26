/** Moved to `src/util/stats.ts` (the replay CLI uses it too); re-exported so benchmarks and labs keep their imports. */
export * from '../../src/util/stats.ts';
