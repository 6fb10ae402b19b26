// Starts a pipeline stage process from the TypeScript sources: register tsx, then run the real entry point
// (as the kernel worker threads do; see model/kernels/threads/kernel-worker-bootstrap.mjs).
import { register } from 'tsx/esm/api';

register();
await import('./stage-main.ts');
