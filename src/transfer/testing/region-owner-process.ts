/**
 * A separate process that owns a patterned SmolLM2-135M-shaped KV pool and serves it over TCP and a Unix
 * socket: the "prefill worker" a test can kill -9. Prints its agent metadata as one JSON line.
 * Usage: node --import tsx region-owner-process.ts NUM_BLOCKS
 */
import { TransferAgent } from '../agent.ts';
import { StreamTransport } from '../stream-transport.ts';
import { allocateRegion, fillPattern, SMOLLM2_135M_LAYOUT } from '../test-regions.ts';

const numBlocks = Number(process.argv[2] ?? 16);
const agent = new TransferAgent({
  name: 'owner',
  transports: [new StreamTransport('tcp'), new StreamTransport('unix')],
});
agent.registerRegion(fillPattern(allocateRegion('kv', SMOLLM2_135M_LAYOUT, numBlocks), 5));
process.stdout.write(`${JSON.stringify(await agent.start())}\n`);
setInterval(() => {}, 60_000); // stay up until killed
