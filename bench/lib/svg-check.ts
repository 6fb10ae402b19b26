/** Moved to `src/util/svg-check.ts`; re-exported so benchmark tests keep their imports. */
export * from '../../src/util/svg-check.ts';
