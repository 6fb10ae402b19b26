/**
 * Loads xgrammar (`@mlc-ai/web-xgrammar`: the grammar engine vLLM and SGLang use for structured output,
 * compiled to WebAssembly) into Node. The package ships a UMD bundle inside a `"type": "module"` package,
 * so neither `import` (no `require` / `__filename` in ES module scope) nor `require` (an .js file of an
 * ES-module package) runs it as published: we evaluate the bundle as the CommonJS module it is, with the
 * `module`, `require` and `__filename` it expects. Loaded once, on first use (the WebAssembly binary is
 * a few MB): workers that never see a `response_format` never load it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { runInThisContext } from 'node:vm';
import type * as XGrammar from '@mlc-ai/web-xgrammar';

export type XGrammarModule = typeof XGrammar;

let loaded: XGrammarModule | undefined;

export function loadXGrammar(): XGrammarModule {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const file = require.resolve('@mlc-ai/web-xgrammar');
  // Its one dynamic import (Node's `module`, for createRequire) becomes a require: code evaluated with
  // vm has no module loader for import() without an experimental flag.
  const source = readFileSync(file, 'utf8').replaceAll("await import('module')", "require('node:module')");
  const wrapper = runInThisContext(
    `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
    { filename: file },
  ) as (exports: object, req: NodeJS.Require, mod: object, filename: string, dirname: string) => void;
  const module = { exports: {} as Record<string, unknown> };
  wrapper(module.exports, createRequire(file), module, file, file.slice(0, file.lastIndexOf('/')));
  loaded = module.exports as unknown as XGrammarModule;
  return loaded;
}
