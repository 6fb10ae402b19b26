/**
 * `dhw worker --engine llamacpp|openai` flags → engine specs, and the usage errors that name the fix.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { convertToGguf } from '../../model/index.ts';
import { defaultModelDir } from '../../util/paths.ts';
import { externalEngineSpec } from './worker-engines.ts';

const tmp = mkdtempSync(join(tmpdir(), 'dhw-worker-engines-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const gguf = join(tmp, 'model.gguf');
writeFileSync(gguf, 'GGUF');

test("other engines are none of these flags' business", () => {
  assert.equal(externalEngineSpec('scratch', {}, undefined), undefined);
  assert.equal(externalEngineSpec('mocker', {}, undefined), undefined);
});

test('llamacpp needs an existing .gguf file and a tokenizer folder', () => {
  assert.throws(() => externalEngineSpec('llamacpp', {}, undefined), /--model FILE\.gguf/);
  assert.throws(
    () => externalEngineSpec('llamacpp', { model: defaultModelDir }, undefined),
    /--model FILE\.gguf/,
  );
  assert.throws(
    () => externalEngineSpec('llamacpp', { model: join(tmp, 'missing.gguf') }, undefined),
    /existing GGUF/,
  );
  assert.throws(() => externalEngineSpec('llamacpp', { model: gguf }, undefined), /--tokenizer DIR/);
  const spec = externalEngineSpec(
    'llamacpp',
    { model: gguf, tokenizer: defaultModelDir, 'max-num-seqs': '4', 'block-size': '32', threads: '2' },
    undefined,
  );
  assert.ok(spec?.kind === 'llamacpp');
  assert.equal(spec.modelDir, defaultModelDir);
  assert.equal(spec.options.ggufFile, gguf);
  assert.equal(spec.options.maxNumSeqs, 4);
  assert.equal(spec.options.blockSize, 32);
  assert.equal(spec.options.threads, 2);
  assert.equal(spec.options.enablePrefixCaching, true);
});

test('llamacpp on a GGUF with no tokenizer.json beside it: the tokenizer is rebuilt from the GGUF metadata', async () => {
  const alone = join(tmp, 'alone');
  mkdirSync(alone);
  const file = join(alone, 'fortune.gguf');
  await convertToGguf(defaultModelDir, { out: file, dtype: 'f32' });
  const spec = externalEngineSpec('llamacpp', { model: file }, undefined);
  assert.ok(spec?.kind === 'llamacpp');
  assert.notEqual(spec.modelDir, alone, 'not the bare folder: it holds no tokenizer.json');
  assert.ok(existsSync(join(spec.modelDir, 'tokenizer.json')));
  const vocab = (dir: string) =>
    (
      JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as {
        model: { vocab: Record<string, number> };
      }
    ).model.vocab;
  assert.deepEqual(vocab(spec.modelDir), vocab(defaultModelDir));
  assert.equal(spec.options.ggufFile, file);
});

test('openai needs --upstream, and --upstream-prompt is auto, tokens or text', () => {
  assert.throws(() => externalEngineSpec('openai', {}, undefined), /--upstream URL/);
  assert.throws(
    () =>
      externalEngineSpec(
        'openai',
        { upstream: 'http://127.0.0.1:8000', 'upstream-prompt': 'ids' },
        undefined,
      ),
    /auto, tokens or text/,
  );
  const spec = externalEngineSpec(
    'openai',
    { upstream: 'http://127.0.0.1:8000', 'upstream-prompt': 'text', 'upstream-model': 'm' },
    undefined,
  );
  assert.ok(spec?.kind === 'openai');
  assert.equal(spec.modelDir, defaultModelDir);
  assert.equal(spec.options.upstream, 'http://127.0.0.1:8000');
  assert.equal(spec.options.promptFormat, 'text');
  assert.equal(spec.options.upstreamModel, 'm');
  assert.equal(spec.options.tokenizerDir, defaultModelDir);
});
