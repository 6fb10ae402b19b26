// Test helper, run as its own process: `hold-lease-process.ts BACKEND TARGET KEY TTL` takes a lease on the etcd
// endpoint or directory TARGET, puts KEY, prints {"leaseId": ...} and waits to be killed. On lease loss it
// prints the reason to stderr and exits 3 (what a worker does).
import { createDiscovery } from '../create-discovery.ts';

const [backend, target, key, ttl] = process.argv.slice(2) as [string, string, string, string];
const discovery = await createDiscovery({
  backend: backend as 'etcd' | 'file',
  etcdEndpoints: target,
  fileDir: target,
  ttlSeconds: Number(ttl),
  pollIntervalMs: 50,
});
discovery.onLeaseLost((err) => {
  process.stderr.write(`lease lost: ${err.message}\n`);
  process.exit(3);
});
await discovery.put(key, { pid: process.pid });
process.stdout.write(`${JSON.stringify({ leaseId: discovery.leaseId() })}\n`);
setInterval(() => {}, 60_000);
