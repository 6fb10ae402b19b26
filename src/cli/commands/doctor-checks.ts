/**
 * The probes behind `dhw doctor`, one function per question in the curriculum's troubleshooting order:
 * network connectivity → service registration → memory → versions → model files. Each returns check
 * results ({status, what, detail, fix}) instead of throwing, like a monitoring agent's plugins: a failed
 * probe is data, and later probes still run. Every network probe has a short deadline, so the whole run
 * finishes in seconds even when everything is down.
 */
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { freemem, totalmem } from 'node:os';
import { numKvBlocksFor } from '../../engine/index.ts';
import { findServerBinary } from '../../infra/server-binary.ts';
import { describeModel, kvBytesPerToken } from '../../model/index.ts';
import type { InstanceInfo } from '../../protocols/discovery.ts';
import { Tokenizer } from '../../tokens/index.ts';
import { formatBytes } from '../../util/format.ts';
import { explainUnreachable } from './doctor-network-checks.ts';
import type { CheckResult } from './doctor-result.ts';

export type { CheckResult, CheckStatus } from './doctor-result.ts';

const PROBE_TIMEOUT_MS = 1500;

export interface EtcdProbe {
  endpoint: string;
  ok: boolean;
  version?: string;
  error?: string;
}

/** GET /version on each endpoint: reachable, and which server version. */
export async function probeEtcd(endpoint: string): Promise<EtcdProbe> {
  try {
    const res = await fetch(`${endpoint}/version`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    const body = (await res.json()) as { etcdserver?: string };
    return {
      endpoint,
      ok: res.ok,
      version: body.etcdserver,
      error: res.ok ? undefined : `HTTP ${res.status}`,
    };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { endpoint, ok: false, error: cause?.code ?? cause?.message ?? (err as Error).message };
  }
}

export interface NatsProbe {
  url: string;
  ok: boolean;
  version?: string;
  jetstream?: boolean;
  error?: string;
}

/** Open a TCP connection and read the server's INFO line (NATS greets every client with it). */
export function probeNats(url: string): Promise<NatsProbe> {
  const first = url.split(',')[0]?.trim() ?? url;
  let host = '127.0.0.1';
  let port = 4222;
  try {
    const parsed = new URL(first.includes('://') ? first : `nats://${first}`);
    host = parsed.hostname || host;
    port = parsed.port ? Number(parsed.port) : port;
  } catch {
    return Promise.resolve({ url, ok: false, error: 'not a URL (expected nats://host:port)' });
  }
  return new Promise((resolve) => {
    const socket = connect(port, host);
    let buffered = '';
    const done = (result: NatsProbe) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () =>
      done({ url, ok: false, error: `no answer in ${PROBE_TIMEOUT_MS} ms` }),
    );
    socket.on('error', (err: NodeJS.ErrnoException) =>
      done({ url, ok: false, error: err.code ?? err.message }),
    );
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      const end = buffered.indexOf('\r\n');
      if (end < 0) return;
      const line = buffered.slice(0, end);
      if (!line.startsWith('INFO '))
        return done({ url, ok: false, error: 'the server did not greet like NATS' });
      try {
        const info = JSON.parse(line.slice(5)) as { version?: string; jetstream?: boolean };
        done({ url, ok: true, version: info.version, jetstream: info.jetstream === true });
      } catch {
        done({ url, ok: false, error: 'unreadable INFO line' });
      }
    });
  });
}

/** Does anything accept TCP connections at "host:port"? */
export function probeTcp(address: string): Promise<{ ok: boolean; error?: string }> {
  const match = /^(.+):(\d+)$/.exec(address);
  if (!match) return Promise.resolve({ ok: false, error: 'not host:port' });
  const host = match[1]!.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = connect(Number(match[2]), host);
    const done = (result: { ok: boolean; error?: string }) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done({ ok: false, error: 'timeout' }));
    socket.once('connect', () => done({ ok: true }));
    socket.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, error: err.code ?? err.message }));
  });
}

/** One registered instance: its request port answers, and its /health (if it has a status port). */
export async function checkInstance(instance: InstanceInfo): Promise<CheckResult> {
  const name = `instance ${instance.instanceId}`;
  const section = 'registration';
  const tcp = await probeTcp(instance.transport.tcp);
  if (!tcp.ok) {
    return {
      section,
      name,
      status: 'fail',
      detail: `registered at ${instance.transport.tcp} but nothing answers there (${tcp.error})`,
      fix: explainUnreachable(instance.transport.tcp, tcp.error, instance.pid),
    };
  }
  if (instance.systemPort === undefined) {
    return { section, name, status: 'ok', detail: `request plane answers at ${instance.transport.tcp}` };
  }
  const host = instance.transport.tcp.replace(/:\d+$/, '');
  try {
    const res = await fetch(`http://${host}:${instance.systemPort}/health`, {
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    const body = (await res.json()) as {
      state?: string;
      canary?: { ok?: boolean; latencyMs?: number; error?: string };
    };
    if (res.ok) {
      const ms = body.canary?.latencyMs;
      return {
        section,
        name,
        status: 'ok',
        detail: `${instance.transport.tcp} ready (canary ${ms === undefined ? '?' : `${ms.toFixed(1)} ms`})`,
      };
    }
    return {
      section,
      name,
      status: 'warn',
      detail: `${instance.transport.tcp} not ready: state ${body.state}, canary ${body.canary?.error ?? 'not run'}`,
      fix: `read the worker's log (pid ${instance.pid ?? '?'}); curl http://${host}:${instance.systemPort}/health`,
    };
  } catch (err) {
    return {
      section,
      name,
      status: 'warn',
      detail: `request plane answers, but /health on port ${instance.systemPort} does not (${(err as Error).message})`,
      fix: 'the status server may be blocked by a firewall, or the worker is overloaded',
    };
  }
}

/** RAM needed for the model (our engine holds weights as fp32) plus its default KV cache, vs what is free. */
export async function checkMemory(
  modelDir: string,
  maxNumSeqs: number,
  blockSize: number,
): Promise<CheckResult> {
  const section = 'memory';
  try {
    const d = await describeModel(modelDir);
    const weights = d.parameters * 4;
    const perToken = kvBytesPerToken(d.layers, d.kvHeads, d.headDim);
    const blocks = numKvBlocksFor({
      blockSize,
      bytesPerToken: perToken,
      maxUsefulTokens: maxNumSeqs * d.contextLength,
    });
    const kv = blocks * blockSize * perToken;
    const needed = weights + kv;
    const free = freemem();
    const detail = `model ${formatBytes(weights)} (fp32) + KV cache ${formatBytes(kv)} = ${formatBytes(needed)}; free RAM ${formatBytes(free)} of ${formatBytes(totalmem())}`;
    if (needed > free) {
      return {
        section,
        name: 'RAM',
        status: 'fail',
        detail,
        fix: 'the worker would be OOM-killed (check `dmesg | grep -i oom`): free memory, use a smaller model, or shrink the cache with --kv-cache-memory / --num-kv-blocks',
      };
    }
    if (needed > free * 0.8) {
      return {
        section,
        name: 'RAM',
        status: 'warn',
        detail,
        fix: 'little headroom left: consider --kv-cache-memory',
      };
    }
    return { section, name: 'RAM', status: 'ok', detail };
  } catch (err) {
    return {
      section,
      name: 'RAM',
      status: 'skip',
      detail: `cannot size the model: ${(err as Error).message}`,
    };
  }
}

function runVersion(binary: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(binary, ['--version'], { timeout: 3000 }, (err, stdout) => {
      if (err) return resolve(undefined);
      const match = /(\d+\.\d+\.\d+)/.exec(stdout);
      resolve(match?.[1]);
    });
  });
}

/** Node, and the etcd / nats-server binaries here compared with the servers that answered. */
export async function checkVersions(
  etcd: EtcdProbe | undefined,
  nats: NatsProbe | undefined,
): Promise<CheckResult[]> {
  const section = 'versions';
  const major = Number(process.versions.node.split('.')[0]);
  const results: CheckResult[] = [
    major >= 20
      ? { section, name: 'node', status: 'ok', detail: `node ${process.versions.node}` }
      : {
          section,
          name: 'node',
          status: 'fail',
          detail: `node ${process.versions.node}`,
          fix: 'install Node.js 20 or newer',
        },
  ];
  const servers: [name: 'etcd' | 'nats-server', running: string | undefined][] = [
    ['etcd', etcd?.version],
    ['nats-server', nats?.version],
  ];
  for (const [name, running] of servers) {
    const binary = findServerBinary(name);
    const local = binary ? await runVersion(binary) : undefined;
    const parts = [binary ? `${binary} ${local ?? '(version unknown)'}` : 'no local binary'];
    if (running) parts.push(`server answering: ${running}`);
    const detail = parts.join('; ');
    if (!binary && !running) {
      results.push({
        section,
        name,
        status: 'warn',
        detail,
        fix: 'install it for `dhw infra up`: sudo apt-get install -y etcd-server etcd-client nats-server',
      });
    } else if (local && running && local !== running) {
      results.push({
        section,
        name,
        status: 'warn',
        detail,
        fix: 'the running server is not the local binary: fine if remote, otherwise restart it',
      });
    } else {
      results.push({ section, name, status: 'ok', detail });
    }
  }
  return results;
}

/** config.json, safetensors and tokenizer.json present and loadable. */
export async function checkModelFiles(modelDir: string): Promise<CheckResult[]> {
  const section = 'model';
  const results: CheckResult[] = [];
  const fixFiles = `pass --model DIR with a Hugging Face checkpoint folder (config.json + *.safetensors + tokenizer.json)`;
  try {
    const d = await describeModel(modelDir);
    results.push({
      section,
      name: 'weights',
      status: 'ok',
      detail: `${d.architecture}, ${(d.parameters / 1e6).toFixed(2)}M parameters, ${formatBytes(d.bytesOnDisk)} ${d.dtype} in ${modelDir}`,
    });
  } catch (err) {
    results.push({ section, name: 'weights', status: 'fail', detail: (err as Error).message, fix: fixFiles });
  }
  try {
    const tokenizer = await Tokenizer.fromDir(modelDir);
    results.push({
      section,
      name: 'tokenizer',
      status: tokenizer.hasChatTemplate ? 'ok' : 'warn',
      detail: `tokenizer.json: ${tokenizer.vocabSize} tokens; chat template ${tokenizer.hasChatTemplate ? 'found' : 'missing'}`,
      fix: tokenizer.hasChatTemplate ? undefined : 'without a chat template only /v1/completions works',
    });
  } catch (err) {
    results.push({
      section,
      name: 'tokenizer',
      status: 'fail',
      detail: (err as Error).message,
      fix: fixFiles,
    });
  }
  return results;
}
