/**
 * `dhw doctor --cluster-config FILE` against a secured cluster for real (`dhw infra up --secure`'s etcd with
 * TLS, client certificates and RBAC; nats-server with TLS and a user; a cluster secret) and a member worker:
 * with the member's file every step passes (read through $DYN_CLUSTER_CONFIG too); with a file whose
 * passwords and secret are wrong, each failing step is named with its fix.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  freshNamespace,
  quietLogs,
  spawnWorker,
  type WorkerProcess,
} from '../../frontend/testing/frontend-kit.ts';
import { type SecureStack, startSecureStack } from '../../infra/secure-stack.ts';
import type { ClusterConfigFile } from '../../protocols/cluster-config.ts';
import { repoRoot } from '../../util/paths.ts';

quietLogs();

const DHW = join(repoRoot, 'bin', 'dhw.mjs');

function doctor(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [DHW, 'doctor', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stdout += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout })));
}

let dir: string;
let stack: SecureStack;
let worker: WorkerProcess | undefined;
const namespace = freshNamespace();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dhw-doctor-secure-'));
  stack = await startSecureStack({ dir });
  worker = await spawnWorker([
    '--engine',
    'mocker',
    '--speedup-ratio',
    '0',
    '--discovery',
    'etcd',
    '--events',
    'nats',
    '--namespace',
    namespace,
    '--cluster-config',
    stack.configPath,
  ]);
});
after(async () => {
  await worker?.stop();
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a member config ($DYN_CLUSTER_CONFIG): etcd, NATS and the worker secret all pass', {
  timeout: 60_000,
}, async () => {
  const { code, stdout } = await doctor(['--discovery', 'etcd', '--namespace', namespace], {
    DYN_CLUSTER_CONFIG: stack.configPath,
  });
  assert.equal(code, 0, stdout);
  assert.match(
    stdout,
    /✔ etcd \(secure\) +https:\/\/\S+ \(etcd 3\.\S+\): client certificate \+ user dhw-member accepted, \d+ key\(s\) readable under \/dynamo\//,
  );
  assert.match(
    stdout,
    /✔ NATS \(secure\) +\S+ \(nats-server \S+, JetStream on\): client certificate \+ user \S+ accepted/,
  );
  assert.match(stdout, new RegExp(`✔ instance ${worker!.instanceId} `));
  assert.match(
    stdout,
    new RegExp(`✔ secret ${worker!.instanceId} +\\S+: cluster-secret handshake passed both ways`),
  );
});

test('wrong passwords and a different secret: each failing step named with its fix, exit 1', {
  timeout: 60_000,
}, async () => {
  const config = JSON.parse(readFileSync(stack.configPath, 'utf8')) as ClusterConfigFile;
  const otherSecret = join(dir, 'other.secret');
  writeFileSync(otherSecret, `${'b'.repeat(64)}\n`, { mode: 0o600 });
  const wrong: ClusterConfigFile = {
    ...config,
    etcd: { ...config.etcd!, password: 'not-the-password' },
    nats: { ...config.nats!, password: 'not-the-password' },
    clusterSecretFile: otherSecret,
  };
  const wrongPath = join(dir, 'wrong.json');
  writeFileSync(wrongPath, JSON.stringify(wrong), { mode: 0o600 });
  const { code, stdout } = await doctor(['--discovery', 'etcd', '--cluster-config', wrongPath]);
  assert.equal(code, 1, stdout);
  assert.match(stdout, /✖ etcd \(secure\) +https:\/\/\S+: auth failed \(.*\)/);
  assert.match(stdout, /fix: etcd refused the user or password/);
  assert.match(stdout, /✖ NATS \(secure\) +\S+ refused a member connection with client certificate \+ user/);
  assert.match(stdout, /fix: NATS refused the credentials/);
  // Registration cannot be listed without etcd: skipped, not a crash.
  assert.match(stdout, /- workers +discovery is unreachable/);

  // The member's etcd and NATS credentials, but another cluster secret: only the handshake fails.
  const secretOnly: ClusterConfigFile = { ...config, clusterSecretFile: otherSecret };
  const secretPath = join(dir, 'secret-only.json');
  writeFileSync(secretPath, JSON.stringify(secretOnly), { mode: 0o600 });
  const secretRun = await doctor([
    '--discovery',
    'etcd',
    '--namespace',
    namespace,
    '--cluster-config',
    secretPath,
  ]);
  assert.equal(secretRun.code, 1, secretRun.stdout);
  assert.match(secretRun.stdout, /✔ etcd \(secure\)/);
  assert.match(
    secretRun.stdout,
    new RegExp(`✖ secret ${worker!.instanceId} +\\S+: cluster-secret handshake failed`),
  );
  assert.match(secretRun.stdout, /fix: start the worker with the same --cluster-config/);
});
