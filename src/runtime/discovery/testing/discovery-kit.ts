/** Starts hold-lease-process.ts in a child process and waits for it to report its lease (shared by the tests). */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export async function spawnLeaseHolder(
  backend: 'etcd' | 'file',
  target: string,
  key: string,
  ttlSeconds: number,
): Promise<{ child: ChildProcess; leaseId: string }> {
  const script = join(import.meta.dirname, 'hold-lease-process.ts');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', script, backend, target, key, String(ttlSeconds)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout as Readable });
  const [line] = (await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`hold-lease-process.ts exited with ${code} before registering`);
    }),
  ])) as [string];
  return { child, leaseId: (JSON.parse(line) as { leaseId: string }).leaseId };
}
