// Starts a kernel worker from the TypeScript sources: Node 20 cannot load a .ts file as a Worker entry
// under tsx (ERR_UNKNOWN_FILE_EXTENSION), so register tsx in the worker first, then import the real code.
import { register } from 'tsx/esm/api';

register();
await import('./kernel-worker.ts');
