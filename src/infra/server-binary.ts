/**
 * Finds the `etcd` / `nats-server` executables, installing them with apt when that is possible, like a
 * package manager's "ensure installed" step in a provisioning script.
 *
 * Search order: $PATH, then /usr/sbin, /usr/bin, /usr/local/bin, /sbin (Debian puts nats-server in /usr/sbin,
 * which is not on every user's PATH). Installing needs root and apt-get; it runs at most once per machine at a
 * time: a lock file in the temp dir (created with O_EXCL) serialises parallel test files so they never race
 * on dpkg's own lock, and the others wait for it and look again.
 */
import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { getLogger } from '../util/logger.ts';
import { startProgress } from '../util/progress.ts';
import { INSTALL_HINT, InfraError } from './errors.ts';

export type ServerBinaryName = 'etcd' | 'nats-server';

const log = getLogger('infra');
const EXTRA_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/sbin', '/usr/local/sbin'];
const APT_PACKAGES = ['etcd-server', 'etcd-client', 'nats-server'];
const LOCK_PATH = join(tmpdir(), 'dhw-apt-install.lock');
const INSTALL_TIMEOUT_MS = 10 * 60_000;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  return dirs.map((dir) => join(dir, name)).find(isExecutable);
}

/** The first executable called `name` on $PATH or in the usual system dirs, or undefined. */
export function findServerBinary(name: ServerBinaryName): string | undefined {
  return findExecutable(name);
}

function canInstallWithApt(): boolean {
  return process.getuid?.() === 0 && findExecutable('apt-get') !== undefined;
}

function missingError(name: ServerBinaryName, why: string): InfraError {
  return new InfraError(
    `${name} not found on PATH or in /usr/sbin, /usr/bin (${why}). Install it: ${INSTALL_HINT}`,
  );
}

/** `onLine` sees each stdout line (apt's machine-readable status lines, for the progress display). */
function runLogged(command: string, args: string[], onLine?: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      if (onLine) for (const line of lines) onLine(line);
    });
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), INSTALL_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}:\n${output}`));
    });
  });
}

/** Take the machine-wide install lock; false if another process holds it (and is alive). */
function tryLock(): boolean {
  try {
    const fd = openSync(LOCK_PATH, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch {
    if (lockHolderIsDead()) {
      try {
        unlinkSync(LOCK_PATH);
      } catch {
        // someone else cleaned it first
      }
    }
    return false;
  }
}

function lockHolderIsDead(): boolean {
  try {
    const pid = Number(readFileSync(LOCK_PATH, 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0) return false; // being written right now
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function installWithApt(packages: readonly string[]): Promise<void> {
  const deadline = Date.now() + INSTALL_TIMEOUT_MS;
  while (!tryLock()) {
    // Another process is installing: wait for it, then the caller looks for the binary again.
    if (Date.now() > deadline)
      throw new InfraError(`timed out waiting for the apt install lock ${LOCK_PATH}`);
    await new Promise((r) => setTimeout(r, 500));
    if (!lockHeld()) return;
  }
  try {
    log.info('installing with apt-get (once)', { packages: packages.join(' ') });
    // apt's status lines (`APT::Status-Fd`: "dlstatus:N:PERCENT:text", "pmstatus:pkg:PERCENT:text") drive
    // the display: downloads, then unpacking and setting up, each 0 to 100 %.
    const progress = startProgress({ label: `apt-get install ${packages.join(' ')}`, total: 100, unit: '%' });
    const onStatus = (line: string) => {
      const status = /^(dlstatus|pmstatus):[^:]*:([\d.]+):(.*)$/.exec(line);
      if (status) progress.update(Number(status[2]), status[3]);
    };
    try {
      progress.update(0, 'apt-get update');
      await runLogged('apt-get', ['update']);
      const statusArgs = ['-o', 'APT::Status-Fd=1'];
      await runLogged(
        'apt-get',
        [...statusArgs, 'install', '-y', '--no-install-recommends', ...packages],
        onStatus,
      );
    } finally {
      progress.stop();
    }
  } finally {
    try {
      unlinkSync(LOCK_PATH);
    } catch {
      // already removed
    }
  }
}

function lockHeld(): boolean {
  try {
    accessSync(LOCK_PATH);
    return true;
  } catch {
    return false;
  }
}

const installs = new Map<string, Promise<void>>();

/** Install `packages` with apt once per process (concurrent callers share the run), machine-wide locked. */
async function installOnce(packages: readonly string[]): Promise<void> {
  const key = packages.join(' ');
  let running = installs.get(key);
  if (running === undefined) {
    running = installWithApt(packages).finally(() => installs.delete(key));
    installs.set(key, running);
  }
  await running;
}

/**
 * The absolute path of the first of `names` found; if none is and we are root with apt-get, installs
 * `packages` once and looks again. Otherwise an InfraError naming `installHint`. For tools the tests need
 * beside etcd and NATS (a browser for the dashboard test).
 */
export async function ensureExecutable(
  names: readonly string[],
  packages: readonly string[],
  installHint: string,
): Promise<string> {
  const find = () => names.map(findExecutable).find((p) => p !== undefined);
  const found = find();
  if (found) return found;
  if (!canInstallWithApt()) {
    throw new InfraError(
      `${names[0]} not found on PATH (cannot install it myself: needs root and apt-get). Install it: ${installHint}`,
    );
  }
  try {
    await installOnce(packages);
  } catch (err) {
    throw new InfraError(`installing ${packages.join(' ')} with apt-get failed. Install it: ${installHint}`, {
      cause: err,
    });
  }
  const installed = find();
  if (!installed)
    throw new InfraError(
      `apt-get installed ${packages.join(' ')} but ${names[0]} is still missing. Install it: ${installHint}`,
    );
  return installed;
}

/**
 * The absolute path of `name`. If it is missing and `allowInstall` (default true) and we are root with
 * apt-get, installs etcd-server, etcd-client and nats-server once; otherwise throws an InfraError that
 * names the install command.
 */
export async function ensureServerBinary(
  name: ServerBinaryName,
  opts: { allowInstall?: boolean } = {},
): Promise<string> {
  const found = findServerBinary(name);
  if (found) return found;
  if (opts.allowInstall === false) throw missingError(name, 'automatic install disabled');
  if (!canInstallWithApt()) throw missingError(name, 'cannot install it myself: needs root and apt-get');
  try {
    await installOnce(APT_PACKAGES);
  } catch (err) {
    throw new InfraError(`installing ${name} with apt-get failed. Install it: ${INSTALL_HINT}`, {
      cause: err,
    });
  }
  const installed = findServerBinary(name);
  if (!installed) throw missingError(name, 'apt-get install finished but the binary is still missing');
  return installed;
}
