import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TransferAgent } from './agent.ts';
import { ShmTransport } from './shm-transport.ts';
import { removeIfOwnerDead, sweepStaleShmDirs } from './shm-sweep.ts';
import { allocateRegion, TINY_LAYOUT } from './test-regions.ts';

describe('stale shm listener directories', () => {
  const base = mkdtempSync(join(tmpdir(), 'dhw-sweep-'));
  after(() => rmSync(base, { recursive: true, force: true }));
  /** A pid that existed and is gone: a process that already exited. */
  const deadPid = spawnSync(process.execPath, ['-e', '0']).pid as number;

  function leftover(pid: number, suffix: string): string {
    const dir = join(base, `dhw-kv-${pid}-${suffix}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'kv.kv'), Buffer.alloc(4096, 1));
    return dir;
  }

  it('removes only directories whose owner process is dead, and only ours by name', () => {
    const dead = leftover(deadPid, 'AbC123');
    const mine = leftover(process.pid, 'XyZ789');
    const parent = leftover(process.ppid, 'Qrs456');
    const other = join(base, `not-ours-${deadPid}`);
    mkdirSync(other);
    assert.deepEqual(sweepStaleShmDirs(base), [dead]);
    assert.deepEqual(
      [dead, mine, parent, other].map((d) => existsSync(d)),
      [false, true, true, true],
    );
    assert.equal(removeIfOwnerDead(mine), false);
  });

  it('a listener sweeps its base directory when it starts; a vanished same-host peer is swept', async () => {
    const stale = leftover(deadPid, 'Start1');
    const agent = new TransferAgent({ name: 'sweeper', transports: [new ShmTransport({ baseDir: base })] });
    agent.registerRegion(allocateRegion('kv', TINY_LAYOUT, 4));
    const meta = await agent.start();
    assert.equal(existsSync(stale), false, 'swept at listen');
    const gone = leftover(deadPid, 'Peer22');
    agent.addRemoteAgent({
      ...meta,
      name: 'killed-prefill',
      pid: deadPid,
      endpoints: [{ kind: 'shm', address: `shm://${gone}` }],
    });
    agent.removeRemoteAgent('killed-prefill'); // its lease expired: discovery deleted its metadata
    assert.equal(existsSync(gone), false, 'swept when the peer left discovery');
    await agent.close();
  });
});
