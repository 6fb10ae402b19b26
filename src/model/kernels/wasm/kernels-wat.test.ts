/**
 * The emitted kernel module, disassembled by wabt into kernels.wat (checked in beside this file), so a
 * reviewer or learner reads and diffs the code the generators produce instead of their TypeScript.
 * Fails when the generators emit anything else than the checked-in text.
 *
 * After an intended change to a generator: `npm run kernels:wat` (UPDATE_WAT=1) rewrites kernels.wat;
 * review its diff like any other code change.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import wabt from 'wabt';
import { kernelModuleBytes } from './kernel-module.ts';

const WAT_FILE = new URL('./kernels.wat', import.meta.url);

/** The module that runs (no relaxed SIMD, the default), with names for params, locals and functions. */
async function disassemble(): Promise<string> {
  const tools = await wabt();
  const module = tools.readWasm(kernelModuleBytes(false, { names: true }), {
    readDebugNames: true,
    simd: true,
    threads: true,
  });
  try {
    module.generateNames();
    module.applyNames();
    return module.toText({ foldExprs: false, inlineExport: true });
  } finally {
    module.destroy();
  }
}

describe('kernels.wat', () => {
  it('the name section is only appended: the module that runs is the same bytes without it', () => {
    const running = kernelModuleBytes(false);
    const named = kernelModuleBytes(false, { names: true });
    assert.ok(named.length > running.length);
    assert.deepEqual(named.subarray(0, running.length), running);
  });

  it('matches the disassembly of the emitted module (regenerate with `npm run kernels:wat`)', async () => {
    const wat = await disassemble();
    if (process.env.UPDATE_WAT === '1') writeFileSync(WAT_FILE, wat);
    const checkedIn = readFileSync(WAT_FILE, 'utf8');
    assert.ok(
      wat === checkedIn,
      'the kernel generators emit different code than src/model/kernels/wasm/kernels.wat: ' +
        'if the change is intended, run `npm run kernels:wat` and review the .wat diff',
    );
  });
});
