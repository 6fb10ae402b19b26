/** A peer process killed with SIGKILL before or during a transfer: a clear error, never a hang. */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import type { AgentMetadata } from './agent-metadata.ts';
import { TransferAgent } from './agent.ts';
import { PeerClosedError } from './errors.ts';
import { StreamTransport } from './stream-transport.ts';
import { allocateRegion, blockOf, patternValue, SMOLLM2_135M_LAYOUT } from './test-regions.ts';

const BLOCKS = 256; // 180 MiB: long enough to be cut off mid-stream

async function spawnOwner(): Promise<{ child: ChildProcess; meta: AgentMetadata }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'testing', 'region-owner-process.ts'), String(BLOCKS)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout as Readable });
  const [line] = (await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`region-owner-process.ts exited with ${code} before publishing its metadata`);
    }),
  ])) as [string];
  return { child, meta: JSON.parse(line) as AgentMetadata };
}

describe('peer process killed', () => {
  const children: ChildProcess[] = [];
  const agents: TransferAgent[] = [];
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(agents.map((a) => a.close()));
  });

  for (const kind of ['tcp', 'unix'] as const) {
    it(`${kind}: READ from a live owner works; kill -9 during a READ fails it with PeerClosedError; afterwards at once`, async () => {
      const { child, meta } = await spawnOwner();
      children.push(child);
      const reader = new TransferAgent({
        name: `reader-${kind}`,
        transports: [new StreamTransport(kind)],
        timeoutMs: 60_000,
      });
      agents.push(reader);
      const dest = allocateRegion('kv', SMOLLM2_135M_LAYOUT, BLOCKS);
      reader.registerRegion(dest);
      reader.addRemoteAgent(meta);
      const all = Array.from({ length: BLOCKS }, (_, i) => i);
      const desc = {
        localRegion: 'kv',
        remoteRegion: 'kv',
        localBlockIds: all,
        remoteBlockIds: [...all].reverse(),
      };

      await reader.read('owner', { ...desc, localBlockIds: [0], remoteBlockIds: [9] });
      assert.equal(blockOf(dest, 29, 1, 0)[0], patternValue(5, 29, 1, 9, 0), 'a real cross-process copy');

      const started = Date.now();
      const pending = reader.read('owner', desc);
      setTimeout(() => child.kill('SIGKILL'), 5);
      await assert.rejects(pending, (err: Error) => {
        assert.ok(err instanceof PeerClosedError, String(err));
        return true;
      });
      assert.ok(Date.now() - started < 10_000, 'failed promptly, not at the 60 s timeout');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
      await assert.rejects(reader.read('owner', desc), PeerClosedError);
    });
  }
});
