/**
 * Turns a model card's tokenizer source into a folder on this machine, like a deploy agent pulling a
 * release's config before it starts the service:
 *
 *   model-dir          the folder the card names, used in place (same machine or a shared filesystem)
 *   nats-object-store  the files fetched from NATS's object store into the local cache dir, each
 *                      verified against the card's sha256, reused from the cache when they still match
 *
 * The NATS connection is opened on the first card that needs it and kept; a failed connect is retried on
 * the next card (NATS may come up after the frontend). Errors say which model, which file, what to fix.
 */
import type { ModelCard } from '../protocols/discovery.ts';
import {
  CardStoreUnavailableError,
  defaultCardCacheDir,
  materializeCard,
  NatsCardStore,
} from '../runtime/card-store/index.ts';
import type { NatsSecurity } from '../runtime/events/index.ts';
import type { Logger } from '../util/logger.ts';

export interface ModelCardFilesOptions {
  /** --model-cache-dir: where fetched card files are kept (default `$TMPDIR/dhw-model-cards`). */
  cacheDir?: string;
  /**
   * NATS URL of the object store; null when this frontend runs without NATS (`--events memory`): cards
   * whose files are in the object store then cannot be served, and say so.
   */
  natsServer: string | undefined | null;
  /** TLS and credentials for a secured nats-server (the event plane's). */
  natsSecurity?: NatsSecurity;
  log: Logger;
}

export class ModelCardFiles {
  readonly cacheDir: string;
  private store: Promise<NatsCardStore> | undefined;

  constructor(private readonly options: ModelCardFilesOptions) {
    this.cacheDir = options.cacheDir ?? defaultCardCacheDir();
  }

  /** A local folder with the card's tokenizer files (fetched and verified first when they travel). */
  async localDir(card: ModelCard): Promise<string> {
    const source = card.tokenizer;
    if (source.kind === 'model-dir') return source.path;
    const store = await this.connect();
    const result = await materializeCard(card.displayName, source, store, this.cacheDir);
    this.options.log.info('model card files ready', {
      model: card.displayName,
      bucket: source.bucket,
      dir: result.dir,
      fetched: result.fetched,
      cached: result.cached,
    });
    return result.dir;
  }

  async close(): Promise<void> {
    const store = this.store;
    this.store = undefined;
    if (store) await (await store.catch(() => undefined))?.close();
  }

  private connect(): Promise<NatsCardStore> {
    if (this.options.natsServer === null) {
      return Promise.reject(
        new CardStoreUnavailableError(
          "the model card's files are in NATS's object store, but this frontend runs without NATS " +
            '(--events memory): start it with --events nats (and --nats-server URL)',
        ),
      );
    }
    this.store ??= NatsCardStore.connect({
      natsServer: this.options.natsServer,
      natsSecurity: this.options.natsSecurity,
    });
    const pending = this.store;
    // Forget a failed connect so the next card tries again.
    pending.catch(() => {
      if (this.store === pending) this.store = undefined;
    });
    return pending;
  }
}
