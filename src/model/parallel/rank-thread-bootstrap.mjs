// Starts a tensor-parallel rank thread from the TypeScript sources (see kernels/threads/kernel-worker-bootstrap.mjs).
import { register } from 'tsx/esm/api';

register();
await import('./rank-thread.ts');
