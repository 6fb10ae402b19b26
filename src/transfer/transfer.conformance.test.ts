/** Runs the one KvTransport contract against every backend. */
import { MemoryTransport } from './memory-transport.ts';
import { ShmTransport } from './shm-transport.ts';
import { StreamTransport } from './stream-transport.ts';
import { runTransferConformance } from './transfer.conformance.ts';

runTransferConformance('TCP (loopback)', () => new StreamTransport('tcp'));
runTransferConformance('Unix domain socket', () => new StreamTransport('unix'));
runTransferConformance('shared memory (/dev/shm, staged on read)', () => new ShmTransport());
runTransferConformance('shared memory (/dev/shm, staged ahead)', () => new ShmTransport(), {
  stageAhead: true,
});
runTransferConformance('in-memory', () => new MemoryTransport());
