// Starts a tokenizer thread from the TypeScript sources (as model/parallel/rank-thread-bootstrap.mjs does).
import { register } from 'tsx/esm/api';

register();
await import('./tokenize-thread.ts');
