/**
 * Model cards that travel (docs/model-cards.md), against real etcd + nats-server: a worker started from a
 * temporary copy of the bundled model uploads its card files to NATS's object store; the copy is deleted;
 * a frontend that never saw the folder lists the model and answers exactly as one that had it. A card whose
 * files were altered or deleted in the store is not served (the reason is in the 503 and in `dhw doctor`),
 * and neither is a card naming a folder that does not exist on this machine (the original failure).
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { FrontendHandle } from '../../frontend/frontend.ts';
import { startFrontend } from '../../frontend/frontend.ts';
import { eventually, freshNamespace, goldenSamples, quietLogs } from '../../frontend/testing/frontend-kit.ts';
import type { ModelCard, ObjectStoreSource } from '../../protocols/discovery.ts';
import { cardCacheDir } from '../../runtime/card-store/card-cache.ts';
import {
  type CardFileData,
  NatsCardStore,
  readCardFiles,
  sha256Checksum,
} from '../../runtime/card-store/index.ts';
import { defaultModelDir } from '../../util/paths.ts';
import { Worker, type WorkerOptions } from '../../worker/index.ts';
import { publishCardFiles } from '../../worker/registration.ts';
import { startInfra, type TestInfra } from '../../worker/testing/worker-kit.ts';
import { runDoctor } from './doctor.ts';

quietLogs();

let infra: TestInfra;
let scratch: string;
let store: NatsCardStore;
const cleanups: (() => Promise<unknown>)[] = [];

before(async () => {
  infra = await startInfra();
  scratch = await mkdtemp(join(tmpdir(), 'dhw-cards-test-'));
  store = await NatsCardStore.connect({ natsServer: infra.nats.url });
});
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await store?.close();
  await infra?.stop();
  await rm(scratch, { recursive: true, force: true });
});

/** A copy of the bundled model in its own temp folder (the folder name stays `fortune-llama`). */
async function copyModel(): Promise<string> {
  const dir = join(await mkdtemp(join(scratch, 'model-')), 'fortune-llama');
  await cp(defaultModelDir, dir, { recursive: true });
  return dir;
}

async function startWorker(namespace: string, modelDir: string, extra: Partial<WorkerOptions> = {}) {
  const worker = await Worker.start({
    engine: { kind: 'scratch', options: { modelDir } },
    namespace,
    discovery: { backend: 'etcd', etcdEndpoints: infra.etcd.endpoint, ttlSeconds: 3 },
    events: { backend: 'nats', natsServer: infra.nats.url },
    canaryIntervalMs: 0,
    systemPort: null,
    ...extra,
  });
  cleanups.push(() => worker.stop({ drainMs: 0 }));
  return worker;
}

/** A frontend with its own, empty card cache. */
async function startCleanFrontend(namespace: string): Promise<FrontendHandle> {
  const cacheDir = await mkdtemp(join(scratch, 'cache-'));
  const frontend = await startFrontend({
    namespace,
    host: '127.0.0.1',
    port: 0,
    drainTimeoutMs: 1000,
    discovery: { backend: 'etcd', etcdEndpoints: infra.etcd.endpoint },
    events: { backend: 'nats', natsServer: infra.nats.url },
    modelCards: { cacheDir },
  });
  cleanups.push(() => frontend.close());
  return frontend;
}

interface ChatReply {
  choices: { message: { content: string } }[];
  usage: unknown;
  error: { message: string };
}

async function chat(frontend: FrontendHandle, model: string): Promise<{ status: number; body: ChatReply }> {
  const golden = goldenSamples()[0]!;
  const res = await fetch(`${frontend.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: golden.messages, temperature: 0, max_tokens: 24 }),
  });
  return { status: res.status, body: (await res.json()) as ChatReply };
}

function objectSource(card: ModelCard): ObjectStoreSource {
  assert.equal(card.tokenizer.kind, 'nats-object-store', 'the card names the object store');
  return card.tokenizer as ObjectStoreSource;
}

function doctorValues(namespace: string) {
  return {
    'etcd-endpoints': infra.etcd.endpoint,
    'nats-server': infra.nats.url,
    namespace,
    model: defaultModelDir,
  };
}

test('worker from a deleted copy: a frontend without the folder serves the same greedy chat', {
  timeout: 60_000,
}, async () => {
  const namespace = freshNamespace();
  const copy = await copyModel();
  const worker = await startWorker(namespace, copy);
  const source = objectSource(worker.modelCard);
  assert.equal(source.bucket, 'fortune-llama');
  assert.equal(source.workerPath, copy);
  const names = source.files.map((f) => f.name).sort();
  assert.deepEqual(names, [
    'chat_template.jinja',
    'generation_config.json',
    'tokenizer.json',
    'tokenizer_config.json',
  ]);
  for (const file of source.files) {
    assert.equal(file.checksum, sha256Checksum(await readFile(join(copy, file.name))), file.name);
  }

  // While the folder exists: the reference answer.
  const withFolder = await startCleanFrontend(namespace);
  await eventually(() => withFolder.models.list().length === 1, 'the model listed');
  const reference = await chat(withFolder, 'fortune-llama');
  assert.equal(reference.status, 200, JSON.stringify(reference.body));
  await withFolder.close();

  await rm(copy, { recursive: true });
  const frontend = await startCleanFrontend(namespace);
  await eventually(() => frontend.models.list().length === 1, 'the model listed without its folder');
  assert.deepEqual(frontend.models.unservable(), []);
  const served = await chat(frontend, 'fortune-llama');
  assert.equal(served.status, 200, JSON.stringify(served.body));
  assert.equal(served.body.choices[0]!.message.content, reference.body.choices[0]!.message.content);
  assert.deepEqual(served.body.usage, reference.body.usage);
  const golden = goldenSamples()[0]!;
  assert.ok(golden.greedy_text.startsWith(served.body.choices[0]!.message.content));

  const doctor = await runDoctor(doctorValues(namespace));
  const cardCheck = doctor.find((r) => r.name === 'card of fortune-llama');
  assert.equal(cardCheck?.status, 'ok', JSON.stringify(cardCheck));
  assert.match(cardCheck.detail, /4 file\(s\) in bucket 'fortune-llama' fetched, checksums verified/);

  // The last worker of the model removes its bucket when it stops.
  await worker.stop({ drainMs: 0 });
  assert.equal(await store.checksums('fortune-llama'), undefined);
});

test('same files are not uploaded twice; the bucket stays until the last worker of the model stops', {
  timeout: 60_000,
}, async () => {
  const namespace = freshNamespace();
  const name = `shared-${namespace}`;
  const first = await startWorker(namespace, defaultModelDir, { servedModelName: name });
  const again = await publishCardFiles(store, defaultModelDir, name);
  assert.deepEqual(again.result.uploaded, []);
  assert.equal(again.result.unchanged.length, 4);
  assert.deepEqual(again.source.files, objectSource(first.modelCard).files);
  assert.equal(again.source.mdcsum, objectSource(first.modelCard).mdcsum);

  const second = await startWorker(namespace, defaultModelDir, { servedModelName: name });
  const bucket = objectSource(second.modelCard).bucket;
  await first.stop({ drainMs: 0 });
  assert.equal((await store.checksums(bucket))?.size, 4, 'another worker still names the bucket');
  await second.stop({ drainMs: 0 });
  assert.equal(await store.checksums(bucket), undefined);
});

test('workers of one model starting at the same moment all publish its card, and nats-server stays up', {
  timeout: 60_000,
}, async () => {
  // Every worker creates the bucket if it is missing: against nats-server 2.9 that raced ("subjects
  // overlap", once in ~90 rounds of this) and could crash the server (a read of a stream still being made).
  const files = await readCardFiles(defaultModelDir);
  const peers = await Promise.all([1, 2, 3].map(() => NatsCardStore.connect({ natsServer: infra.nats.url })));
  cleanups.push(() => Promise.all(peers.map((peer) => peer.close())));
  for (let round = 0; round < 5; round++) {
    const bucket = `race-${freshNamespace()}`;
    const results = await Promise.all([store, ...peers].map((s) => s.publish(bucket, files)));
    const uploaded = results.flatMap((r) => r.uploaded).length;
    assert.ok(uploaded >= files.length, `round ${round}: every file was uploaded by someone`);
    const held = await store.checksums(bucket);
    assert.deepEqual([...(held?.values() ?? [])].sort(), files.map((f) => f.checksum).sort());
    assert.equal(await store.deleteBucket(bucket), true);
  }
});

test("a bucket whose subjects another stream holds fails after a few tries, naming the bucket and NATS's reason", {
  timeout: 30_000,
}, async () => {
  const bucket = `taken-${freshNamespace()}`;
  const nc = await connect({ servers: infra.nats.url });
  cleanups.push(() => nc.close());
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: `squatter_${bucket}`, subjects: [`$O.${bucket}.>`] });
  await assert.rejects(store.publish(bucket, await readCardFiles(defaultModelDir)), (err: Error) => {
    assert.equal(err.name, 'CardStoreUnavailableError');
    assert.match(err.message, new RegExp(`bucket '${bucket}'.*subjects overlap`));
    return true;
  });
});

test('the frontend cache is keyed by mdcsum and refetches a cached file that no longer matches', {
  timeout: 60_000,
}, async () => {
  const namespace = freshNamespace();
  const name = `cached-${namespace}`;
  const worker = await startWorker(namespace, defaultModelDir, { servedModelName: name });
  const source = objectSource(worker.modelCard);
  const cacheDir = await mkdtemp(join(scratch, 'shared-cache-'));
  const options = {
    namespace,
    host: '127.0.0.1',
    port: 0,
    discovery: { backend: 'etcd' as const, etcdEndpoints: infra.etcd.endpoint },
    events: { backend: 'nats' as const, natsServer: infra.nats.url },
    modelCards: { cacheDir },
  };
  const first = await startFrontend(options);
  cleanups.push(() => first.close());
  await eventually(() => first.models.list().length === 1, 'the model listed');
  await first.close();
  const dir = cardCacheDir(cacheDir, source);
  assert.deepEqual(
    (await readCardFiles(dir)).map((f) => f.checksum).sort(),
    source.files.map((f) => f.checksum).sort(),
  );
  await writeFile(join(dir, 'tokenizer_config.json'), '{"edited": "by hand"}');
  const second = await startFrontend(options);
  cleanups.push(() => second.close());
  await eventually(() => second.models.list().length === 1, 'the model listed again');
  const config = await readFile(join(dir, 'tokenizer_config.json'));
  assert.equal(
    sha256Checksum(config),
    source.files.find((f) => f.name === 'tokenizer_config.json')?.checksum,
  );
});

test('a file altered in the object store: not listed, the reason in the log, the 503 and doctor', {
  timeout: 60_000,
}, async () => {
  const namespace = freshNamespace();
  const name = `tampered-${namespace}`;
  const worker = await startWorker(namespace, defaultModelDir, { servedModelName: name });
  const source = objectSource(worker.modelCard);
  const altered: CardFileData = {
    name: 'tokenizer_config.json',
    bytes: Buffer.from('{"chat_template": "altered"}'),
    checksum: sha256Checksum(Buffer.from('{"chat_template": "altered"}')),
    size: 28,
  };
  await store.publish(source.bucket, [altered]);

  const frontend = await startCleanFrontend(namespace);
  assert.deepEqual(frontend.models.list(), []);
  const [problem] = frontend.models.unservable();
  assert.equal(problem?.model, name);
  assert.match(
    problem.reason,
    /tokenizer_config\.json of model '.*' in object store bucket '.*' hashes to sha256:/,
  );
  assert.match(problem.reason, /but the model card says sha256:/);
  const reply = await chat(frontend, name);
  assert.equal(reply.status, 503);
  assert.match(reply.body.error.message, /is registered but not served here: .*hashes to sha256:/);

  const doctor = await runDoctor(doctorValues(namespace));
  const check = doctor.find((r) => r.name === `card of ${name}`);
  assert.equal(check?.status, 'fail');
  assert.match(check.detail, /hashes to sha256:.*but the model card says/);
  assert.match(check.fix ?? '', /Restart one of its workers/);
});

test('a deleted bucket: not listed with the reason; a worker that registers again brings it back', {
  timeout: 60_000,
}, async () => {
  const namespace = freshNamespace();
  const name = `deleted-${namespace}`;
  const worker = await startWorker(namespace, defaultModelDir, { servedModelName: name });
  const source = objectSource(worker.modelCard);
  assert.equal(await store.deleteBucket(source.bucket), true);

  const frontend = await startCleanFrontend(namespace);
  assert.deepEqual(frontend.models.list(), []);
  assert.match(frontend.models.unservable()[0]?.reason ?? '', /bucket '.*' does not exist on nats:/);
  const doctor = await runDoctor(doctorValues(namespace));
  assert.equal(doctor.find((r) => r.name === `card of ${name}`)?.status, 'fail');

  await startWorker(namespace, defaultModelDir, { servedModelName: name });
  await eventually(() => frontend.models.list().length === 1, 'the model served after a re-upload');
  assert.deepEqual(frontend.models.unservable(), []);
  // The worker that registered while the files were missing joins too.
  await eventually(() => frontend.models.instances().length === 2, 'both workers routable');
  assert.equal((await chat(frontend, name)).status, 200);
});

test('a model-dir card naming a folder missing here: not listed, and doctor names the fix', {
  timeout: 60_000,
}, async () => {
  const namespace = freshNamespace();
  const copy = await copyModel();
  const worker = await startWorker(namespace, copy, { modelCardStore: 'model-dir' });
  assert.deepEqual(worker.modelCard.tokenizer, { kind: 'model-dir', path: copy });
  await rm(copy, { recursive: true });

  const frontend = await startCleanFrontend(namespace);
  assert.deepEqual(frontend.models.list(), []);
  assert.match(frontend.models.unservable()[0]?.reason ?? '', /--model-card-store nats/);
  const doctor = await runDoctor(doctorValues(namespace));
  const check = doctor.find((r) => r.name === 'card of fortune-llama');
  assert.equal(check?.status, 'fail');
  assert.match(check.detail, new RegExp(`names the folder ${copy}`));
  assert.match(check.fix ?? '', /--model-card-store nats/);
});
