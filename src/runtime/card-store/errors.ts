/**
 * Named errors of the model card store. Each says which model, which file, and what to do.
 */
import { DhwError } from '../../util/errors.ts';

/** NATS (or its JetStream) cannot be reached for the object store: server down, wrong URL, JetStream off. */
export class CardStoreUnavailableError extends DhwError {}

/** A card file is not in the object store (bucket or object deleted, or never uploaded). */
export class CardFileMissingError extends DhwError {}

/** A card file's bytes do not hash to the checksum its model card promises. */
export class CardChecksumError extends DhwError {}

/** A model folder has no tokenizer.json (nothing a frontend could load), or a file cannot be read. */
export class CardFilesError extends DhwError {}
