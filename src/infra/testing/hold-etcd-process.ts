// Test helper: starts an attached etcd, prints its pid, then waits to be killed (or exits if asked).
import { startEtcd } from '../local-servers.ts';

const etcd = await startEtcd();
process.stdout.write(`${JSON.stringify({ etcdPid: etcd.pid })}\n`);
if (process.argv[2] === 'exit') process.exit(0);
setInterval(() => {}, 60_000);
