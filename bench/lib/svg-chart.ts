/** Moved to `src/util/svg-chart.ts` (the replay CLI plots too); re-exported so benchmarks keep their imports. */
export * from '../../src/util/svg-chart.ts';
