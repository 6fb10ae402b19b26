/**
 * `etcdctl` from a script, printed the way a learner would type it: each command line (with ETCDCTL_API=3
 * and --endpoints spelled out) followed by its output. Plus a background `etcdctl watch` whose lines are
 * stamped with the time they arrived. Like driving `redis-cli` from a runbook script.
 */
import { type ChildProcessByStdio, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';
import { INSTALL_HINT } from '../../src/infra/errors.ts';
import { note } from './lab-kit.ts';

/** Absolute path of etcdctl (Debian package etcd-client), or an error that says how to install it. */
export function findEtcdctl(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/local/bin'];
  for (const dir of dirs) {
    try {
      accessSync(join(dir, 'etcdctl'), constants.X_OK);
      return join(dir, 'etcdctl');
    } catch {
      // not in this dir
    }
  }
  throw new Error(`etcdctl not found on PATH: install the etcd client (${INSTALL_HINT})`);
}

const shellQuote = (arg: string) =>
  /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;

export class Etcdctl {
  private readonly binary = findEtcdctl();

  constructor(readonly endpoint: string) {}

  /** The command line as a learner types it. */
  commandLine(args: readonly string[]): string {
    return `ETCDCTL_API=3 etcdctl --endpoints=${this.endpoint} ${args.map(shellQuote).join(' ')}`;
  }

  /** Run `etcdctl args...`, print the command and its output, return stdout. Throws on a non-zero exit. */
  run(args: readonly string[], opts: { quiet?: boolean } = {}): string {
    const result = spawnSync(this.binary, [`--endpoints=${this.endpoint}`, ...args], {
      encoding: 'utf8',
      env: { ...process.env, ETCDCTL_API: '3' },
      timeout: 10_000,
    });
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trimEnd();
    if (!opts.quiet) {
      note(`$ ${this.commandLine(args)}`);
      for (const line of output.split('\n').filter(Boolean)) note(`  ${line}`);
    }
    if (result.status !== 0) {
      throw new Error(`${this.commandLine(args)} exited ${result.status ?? result.signal}: ${output}`);
    }
    return result.stdout;
  }

  /** The store's current revision (every write bumps it), read quietly from a `get`'s response header. */
  currentRevision(): number {
    const out = this.run(['get', '/', '--write-out=json'], { quiet: true });
    return Number((JSON.parse(out) as { header: { revision: number | string } }).header.revision);
  }

  /**
   * Start `etcdctl watch --prefix prefix` in the background; each output line goes to `onLine`. With
   * `fromRevision`, etcd replays every change from that revision on, so a watch that connects late (a slow
   * process start) still sees writes made after the revision was read: how a watcher resumes without gaps.
   */
  watch(
    prefix: string,
    onLine: (line: string) => void,
    opts: { fromRevision?: number } = {},
  ): BackgroundWatch {
    const args = ['watch', '--prefix', prefix];
    if (opts.fromRevision !== undefined) args.push(`--rev=${opts.fromRevision}`);
    note(`$ ${this.commandLine(args)} &`);
    const child = spawn(this.binary, [`--endpoints=${this.endpoint}`, ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new BackgroundWatch(child, onLine);
  }
}

/** A running `etcdctl watch`: lines as they arrive, stopped by pid. */
export class BackgroundWatch {
  private buffer = '';

  constructor(
    private readonly child: ChildProcessByStdio<null, Readable, Readable>,
    onLine: (line: string) => void,
  ) {
    const feed = (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      const lines = this.buffer.split('\n');
      this.buffer = lines.pop() ?? '';
      for (const line of lines) if (line.length > 0) onLine(line);
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill('SIGTERM');
    });
  }
}
