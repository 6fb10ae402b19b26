/**
 * `dhw doctor`'s model card check: can a frontend on THIS machine load every registered model? Workers
 * register fine and the registry looks healthy while a frontend elsewhere cannot read the tokenizer the
 * card names (a folder that exists only on the worker's machine, an object store bucket that was deleted,
 * files that no longer match their checksums). The check does what the frontend does: for a folder, read
 * it; for the object store, fetch every file into a scratch cache, verify the checksums, load the tokenizer.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ObjectStoreSource, TokenizerSource } from '../../protocols/discovery.ts';
import { materializeCard, NatsCardStore } from '../../runtime/card-store/index.ts';
import type { NatsSecurity } from '../../runtime/events/index.ts';
import { Tokenizer } from '../../tokens/index.ts';
import type { CheckResult } from './doctor-checks.ts';

const section = 'registration';

async function checkModelDir(model: string, path: string): Promise<CheckResult> {
  const name = `card of ${model}`;
  try {
    const tokenizer = await Tokenizer.fromDir(path);
    return {
      section,
      name,
      status: 'ok',
      detail: `tokenizer folder ${path} loads here (${tokenizer.vocabSize} tokens)`,
    };
  } catch (err) {
    return {
      section,
      name,
      status: 'fail',
      detail: `the card names the folder ${path}, which a frontend on this machine cannot load (${(err as Error).message})`,
      fix:
        'a frontend here will not list this model. Restart its workers with `--model-card-store nats` (the ' +
        'default with --discovery etcd --events nats) so the card travels, or make the folder exist at that path',
    };
  }
}

async function checkObjectStore(
  model: string,
  source: ObjectStoreSource,
  natsUrl: string | undefined,
  natsSecurity: NatsSecurity | undefined,
): Promise<CheckResult> {
  const name = `card of ${model}`;
  if (natsUrl === undefined) {
    return {
      section,
      name,
      status: 'fail',
      detail: `its files are in NATS's object store (bucket '${source.bucket}'), and NATS was not reachable (or was skipped with --skip-nats)`,
      fix: 'a frontend here cannot fetch them: check the NATS section above (--nats-server)',
    };
  }
  const scratch = await mkdtemp(join(tmpdir(), 'dhw-doctor-card-'));
  let store: NatsCardStore | undefined;
  try {
    store = await NatsCardStore.connect({ natsServer: natsUrl, natsSecurity });
    const { dir } = await materializeCard(model, source, store, scratch);
    const tokenizer = await Tokenizer.fromDir(dir);
    return {
      section,
      name,
      status: 'ok',
      detail: `${source.files.length} file(s) in bucket '${source.bucket}' fetched, checksums verified, tokenizer loads (${tokenizer.vocabSize} tokens)`,
    };
  } catch (err) {
    return {
      section,
      name,
      status: 'fail',
      detail: (err as Error).message,
      fix:
        `a frontend here will not list '${model}'. Restart one of its workers to upload the files again ` +
        `(inspect with \`nats object ls ${source.bucket}\`)`,
    };
  } finally {
    await store?.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** One result per distinct tokenizer source a model's cards name. */
export async function checkModelCards(
  models: readonly { name: string; tokenizerSources: readonly TokenizerSource[] }[],
  natsUrl: string | undefined,
  natsSecurity?: NatsSecurity,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const model of models) {
    for (const source of model.tokenizerSources) {
      results.push(
        source.kind === 'model-dir'
          ? await checkModelDir(model.name, source.path)
          : await checkObjectStore(model.name, source, natsUrl, natsSecurity),
      );
    }
  }
  return results;
}
