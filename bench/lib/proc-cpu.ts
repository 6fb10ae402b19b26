/**
 * CPU time from Linux's /proc, for the benches that account CPU per process or per thread (where
 * `process.cpuUsage()` only sees this process as a whole). Like `ps -o time`: user + system time.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc reports times in clock ticks of 1/100 s. */
const CLOCK_TICKS_PER_S = 100;

/**
 * User + system CPU seconds in a /proc stat file: `/proc/PID/stat` (a process, all its threads) or
 * `/proc/self/task/TID/stat` (one thread). Throws if the file is gone (the process or thread ended).
 */
export function procCpuSeconds(statPath: string): number {
  const stat = readFileSync(statPath, 'utf8');
  // Fields after the command name, which may itself hold spaces and ')': utime and stime are stat(5)'s 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

/** Direct children of `pid` (e.g. a node:cluster primary's forked processes); [] when it has none. */
export function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0);
  } catch {
    return []; // no children
  }
}

/** CPU seconds (user + system) of `pid` and its direct children; a child that exited meanwhile counts 0. */
export function treeCpuSeconds(pid: number): number {
  let seconds = 0;
  for (const p of [pid, ...childPids(pid)]) {
    try {
      seconds += procCpuSeconds(`/proc/${p}/stat`);
    } catch {
      // exited meanwhile
    }
  }
  return seconds;
}

/** This process's own CPU seconds (user + system), e.g. a benchmark's load client. */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
