export { defaultCardCacheDir, type MaterializedCard, materializeCard } from './card-cache.ts';
export {
  type CardFileData,
  cardBucketName,
  cardChecksum,
  cardFileEntry,
  readCardFiles,
  sha256Checksum,
} from './card-files.ts';
export {
  CardChecksumError,
  CardFileMissingError,
  CardFilesError,
  CardStoreUnavailableError,
} from './errors.ts';
export { type CardStoreOptions, NatsCardStore, type PublishResult } from './nats-card-store.ts';
