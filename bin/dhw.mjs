#!/usr/bin/env node
// The `dhw` command. Registers tsx so the TypeScript sources run as they are (no build step),
// then hands over to the CLI entry point.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
