/**
 * `npm run bench:wakeup`: what one hop between two processes costs when both run on one CPU and when they
 * run on two. A message ping-pongs over a Unix socket between this process and a child echo process,
 * pinned with `taskset` to the same CPU, then to different CPUs, alternating; it prints wall µs and CPU µs
 * (both processes, from /proc) per round trip.
 *
 * Why it exists: every request through the stack hops client → frontend → worker → frontend → client.
 * On a virtual machine, a process woken on another, idle vCPU can cost far more than one woken where its
 * sender runs (the idle vCPU halted into the hypervisor and must be woken by an inter-processor interrupt),
 * and that cost shows up as CPU time of the processes. This is what decides whether a second frontend
 * process (`dhw frontend --processes 2`) or CPU pinning pays on a small VM (bench/README.md, bench:frontend-processes).
 *
 * Options: --round-trips 40000  --repeats 4  --json
 */
import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../src/util/paths.ts';
import { fmt, markdownTable } from '../src/util/table.ts';
import { positiveInt } from './lib/args.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { procCpuSeconds } from './lib/proc-cpu.ts';

if (process.argv[2] === '--echo') {
  // The child: echo every message back on the same socket.
  const socket = createConnection(process.argv[3]!);
  socket.on('data', (data) => socket.write(data));
} else {
  await main();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'round-trips': { type: 'string', default: '40000' },
      repeats: { type: 'string', default: '4' },
      json: { type: 'boolean', default: false },
    },
  });
  const roundTrips = positiveInt('round-trips', values['round-trips']);
  const repeats = positiveInt('repeats', values.repeats);
  if (availableParallelism() < 2) throw new Error('bench:wakeup needs at least 2 CPUs');
  const machine = describeMachine();
  const placements = [
    { name: 'same CPU', parent: '0', child: '0' },
    { name: 'two CPUs', parent: '0', child: '1' },
    { name: 'same CPU', parent: '1', child: '1' },
    { name: 'two CPUs', parent: '1', child: '0' },
  ];
  const runs: { placement: string; wallUs: number; cpuUs: number }[] = [];
  for (let r = 0; r < repeats; r++) {
    for (const p of placements) {
      const { wallUs, cpuUs } = await pingPong(p.parent, p.child, roundTrips);
      runs.push({ placement: p.name, wallUs, cpuUs });
    }
  }
  pin(process.pid, `0-${availableParallelism() - 1}`);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const summary = ['same CPU', 'two CPUs'].map((placement) => {
    const mine = runs.filter((run) => run.placement === placement);
    return {
      placement,
      wallUsMedian: median(mine.map((run) => run.wallUs)),
      cpuUsMedian: median(mine.map((run) => run.cpuUs)),
      runs: mine.map((run) => `${fmt(run.wallUs, 1)} / ${fmt(run.cpuUs, 1)}`).join(', '),
    };
  });
  if (values.json) {
    console.log(JSON.stringify({ bench: 'cross-cpu-wakeup', machine, roundTrips, summary }));
    return;
  }
  console.log(machineLine(machine));
  console.log(
    `${roundTrips} round trips of 64 bytes over a Unix socket per run, ${repeats} runs per placement\n`,
  );
  console.log(
    markdownTable(
      [
        { header: 'placement', align: 'left' },
        { header: 'wall µs per round trip (median)' },
        { header: 'CPU µs per round trip, both processes (median)' },
        { header: 'runs: wall / CPU', align: 'left' },
      ],
      summary.map((s) => [s.placement, fmt(s.wallUsMedian, 1), fmt(s.cpuUsMedian, 1), s.runs]),
    ),
  );
  const [same, two] = summary;
  console.log(
    `\ntwo CPUs ÷ same CPU: wall ${fmt(two!.wallUsMedian / same!.wallUsMedian, 2)}x, CPU ${fmt(two!.cpuUsMedian / same!.cpuUsMedian, 2)}x`,
  );
}

/** Sets the CPU affinity of every thread of `pid`. */
function pin(pid: number, cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/** One run: this process on `parentCpu`, an echo child on `childCpu`, `n` timed round trips after a warm-up. */
async function pingPong(
  parentCpu: string,
  childCpu: string,
  n: number,
): Promise<{ wallUs: number; cpuUs: number }> {
  const path = join(tmpdir(), `dhw-wakeup-${process.pid}.sock`);
  rmSync(path, { force: true });
  pin(process.pid, parentCpu);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const runTs = join(repoRoot, 'bin', 'run-ts.mjs');
  const child = spawn(process.execPath, [runTs, process.argv[1]!, '--echo', path], {
    stdio: 'inherit',
  });
  try {
    const socket = await new Promise<Socket>((resolve) => server.once('connection', resolve));
    pin(child.pid!, childCpu);
    await exchange(socket, 2_000); // warm-up: both sides compiled, the affinity in effect
    const cpuBefore = procCpuSeconds(`/proc/${process.pid}/stat`) + procCpuSeconds(`/proc/${child.pid}/stat`);
    const start = performance.now();
    await exchange(socket, n);
    const wallUs = ((performance.now() - start) * 1000) / n;
    const cpuAfter = procCpuSeconds(`/proc/${process.pid}/stat`) + procCpuSeconds(`/proc/${child.pid}/stat`);
    socket.destroy();
    return { wallUs, cpuUs: ((cpuAfter - cpuBefore) * 1e6) / n };
  } finally {
    child.kill();
    server.close();
    rmSync(path, { force: true });
  }
}

/** Sends a 64-byte message and waits for its echo, `n` times in sequence. */
function exchange(socket: Socket, n: number): Promise<void> {
  const message = Buffer.alloc(64);
  return new Promise((resolve) => {
    let received = 0;
    const onData = () => {
      received++;
      if (received === n) {
        socket.off('data', onData);
        resolve();
      } else socket.write(message);
    };
    socket.on('data', onData);
    socket.write(message);
  });
}
