/**
 * The model card files in NATS's object store (JetStream Object Store), Dynamo's `move_to_nats` /
 * `move_from_nats`: a content store next to the registry, like an artifact repository a deploy pulls
 * config from. One bucket per model name (stream `OBJ_{bucket}`), one object per file, named by its file
 * name. NATS keeps a SHA-256 digest per object, so an upload whose bytes are already there is skipped
 * without reading them back (idempotent registration), and every download is checked twice: by nats.js
 * against that digest, and by the caller against the checksum in the model card.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type ObjectStore, Objm, StorageType } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import type { CardFileName } from '../../protocols/discovery.ts';
import { connectNats, resolveNatsUrl } from '../events/nats-connection.ts';
import type { NatsSecurity } from '../events/nats-security.ts';
import type { CardFileData } from './card-files.ts';
import { CardChecksumError, CardFileMissingError, CardStoreUnavailableError } from './errors.ts';

export interface CardStoreOptions {
  /** NATS URL; default `$NATS_SERVER`, else nats://127.0.0.1:4222 (as the event plane). */
  natsServer?: string;
  /** First-connect deadline, default 3000 ms. */
  connectTimeoutMs?: number;
  /** TLS and credentials of a secured nats-server (as the event plane's). */
  natsSecurity?: NatsSecurity;
}

export interface PublishResult {
  uploaded: CardFileName[];
  /** Already in the bucket with the same checksum: not sent again. */
  unchanged: CardFileName[];
}

/** nats.js writes `SHA-256=<base64url>`; cards write `sha256:<hex>`. */
export function natsDigestToChecksum(digest: string): string | undefined {
  if (!digest.startsWith('SHA-256=')) return undefined;
  const bytes = Buffer.from(digest.slice('SHA-256='.length), 'base64url');
  return bytes.length === 32 ? `sha256:${bytes.toString('hex')}` : undefined;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** How long a just-created bucket's storage may still be coming up on the server (see `createBucket`). */
const NEW_BUCKET_SETTLE_MS = 200;
const CREATE_ATTEMPTS = 5;
const CREATE_RETRY_MS = 50;

export class NatsCardStore {
  private readonly objm: Objm;

  private constructor(
    private readonly nc: NatsConnection,
    readonly url: string,
  ) {
    this.objm = new Objm(nc);
  }

  /** Connect, or fail within the deadline with a `CardStoreUnavailableError` naming the URL. */
  static async connect(options: CardStoreOptions = {}): Promise<NatsCardStore> {
    const url = resolveNatsUrl(options.natsServer);
    try {
      const nc = await connectNats({
        url,
        name: `dhw-card-store-${process.pid}`,
        connectTimeoutMs: options.connectTimeoutMs,
        natsSecurity: options.natsSecurity,
      });
      return new NatsCardStore(nc, url);
    } catch (err) {
      throw new CardStoreUnavailableError(
        `model card store: ${describe(err)} (model cards travel through NATS's object store)`,
        { cause: err },
      );
    }
  }

  /** Upload the files whose checksum differs from what the bucket holds; create the bucket if needed. */
  async publish(bucket: string, files: readonly CardFileData[]): Promise<PublishResult> {
    const store = await this.createBucket(bucket);
    const result: PublishResult = { uploaded: [], unchanged: [] };
    for (const file of files) {
      const info = await this.guard(bucket, () => store.info(file.name));
      if (info && !info.deleted && natsDigestToChecksum(info.digest) === file.checksum) {
        result.unchanged.push(file.name);
        continue;
      }
      await this.guard(bucket, () => store.putBlob({ name: file.name }, file.bytes));
      result.uploaded.push(file.name);
    }
    return result;
  }

  /** One file's bytes; `CardFileMissingError` when the bucket or the object is gone. */
  async fetch(bucket: string, name: CardFileName): Promise<Uint8Array> {
    const store = await this.openBucket(bucket);
    const bytes = await this.guard(bucket, () => store.getBlob(name));
    if (bytes === null) {
      throw new CardFileMissingError(
        `${name} is not in the object store bucket '${bucket}' on ${this.url}: it was deleted, or the ` +
          'worker that registered this card did not upload it. Restart a worker of this model to upload it again',
      );
    }
    return bytes;
  }

  /** The checksum NATS holds for each object of a bucket (undefined when the bucket does not exist). */
  async checksums(bucket: string): Promise<Map<string, string> | undefined> {
    let store: ObjectStore;
    try {
      store = await this.openBucket(bucket);
    } catch (err) {
      if (err instanceof CardFileMissingError) return undefined;
      throw err;
    }
    const infos = await this.guard(bucket, () => store.list());
    const out = new Map<string, string>();
    for (const info of infos) {
      const checksum = natsDigestToChecksum(info.digest);
      if (!info.deleted && checksum) out.set(info.name, checksum);
    }
    return out;
  }

  /** Delete a whole bucket (Dynamo's `delete_from_nats`). False if it did not exist. */
  async deleteBucket(bucket: string): Promise<boolean> {
    let store: ObjectStore;
    try {
      store = await this.openBucket(bucket);
    } catch (err) {
      if (err instanceof CardFileMissingError) return false;
      throw err;
    }
    return this.guard(bucket, () => store.destroy());
  }

  async close(): Promise<void> {
    await this.nc.close();
  }

  /**
   * Open the bucket, creating it if needed, safe against workers of the same model starting at the same
   * moment (each creates the bucket). nats-server 2.9 (Debian's) has two races there, both seen in tests:
   * - creation is look-then-create, so two creators can both miss the stream and the second `add` fails
   *   with "subjects overlap" (or "name already in use"): the bucket exists by then, so try again;
   * - the server lists a new stream before its storage exists, and a message read in that window crashes
   *   the whole server (a nil store in `jsMsgGetRequest`): a bucket created a moment ago is given
   *   `NEW_BUCKET_SETTLE_MS` from its creation time before anything of it is read (once per deployment).
   */
  private async createBucket(bucket: string): Promise<ObjectStore> {
    const options = { storage: StorageType.File, description: 'dhw model deployment card' };
    for (let attempt = 1; ; attempt++) {
      try {
        // `create` opens a bucket that exists: ours is up when it answers, another creator's may not be,
        // and nothing tells which, so any bucket made a moment ago gets the settle.
        const store = await this.objm.create(bucket, options);
        await this.settleNewBucket(store);
        return store;
      } catch (err) {
        if (attempt >= CREATE_ATTEMPTS || !/subjects overlap|already in use/i.test(describe(err))) {
          throw this.unavailable(bucket, err);
        }
        await sleep(CREATE_RETRY_MS * attempt);
      }
    }
  }

  private async settleNewBucket(store: ObjectStore): Promise<void> {
    const { streamInfo } = await store.status();
    const age = Date.now() - Date.parse(streamInfo.created);
    if (Number.isFinite(age) && age < NEW_BUCKET_SETTLE_MS) {
      await sleep(Math.min(NEW_BUCKET_SETTLE_MS, NEW_BUCKET_SETTLE_MS - age));
    }
  }

  private async openBucket(bucket: string): Promise<ObjectStore> {
    try {
      return await this.objm.open(bucket);
    } catch (err) {
      if (/not found|does not exist/i.test(describe(err))) {
        throw new CardFileMissingError(
          `the object store bucket '${bucket}' does not exist on ${this.url}: its workers stopped (the last ` +
            'one deletes it) or it was deleted by hand. Restart a worker of this model to upload its card again',
          { cause: err },
        );
      }
      throw this.unavailable(bucket, err);
    }
  }

  /** Run one object store call; JetStream and connection failures become a `CardStoreUnavailableError`. */
  private async guard<T>(bucket: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw this.unavailable(bucket, err);
    }
  }

  private unavailable(bucket: string, err: unknown): CardStoreUnavailableError | CardChecksumError {
    const detail = describe(err);
    if (/corrupt object|digests do not match/i.test(detail)) {
      return new CardChecksumError(`object store bucket '${bucket}' on ${this.url}: ${detail}`, {
        cause: err,
      });
    }
    const fix = /jetstream not enabled|503/i.test(detail)
      ? 'nats-server runs without JetStream: restart it with -js (`dhw infra up` does)'
      : 'is nats-server running and reachable from here? Check with `dhw doctor`';
    return new CardStoreUnavailableError(
      `model card store: object store bucket '${bucket}' on ${this.url} failed (${detail}); ${fix}`,
      { cause: err },
    );
  }
}
