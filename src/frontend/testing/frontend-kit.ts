/**
 * Test helpers for the frontend: the whole stack for real. Workers are `dhw worker` CHILD PROCESSES
 * (the frontend never imports an engine, not even in tests), found through file discovery or a real etcd,
 * called over the TCP request plane. `startTestServer` is one scratch worker behind a frontend on a free
 * port, serving the bundled fortune-llama model; the model's golden greedy outputs come with it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killWithTestProcess } from '../../infra/testing/lifecycle-kit.ts';
import type { Tokenizer } from '../../tokens/index.ts';
import { configureLogging } from '../../util/logger.ts';
import { defaultModelDir, repoRoot } from '../../util/paths.ts';
import { type FrontendHandle, type FrontendOptions, startFrontend } from '../frontend.ts';
import type { RequestCounts } from '../request-stats.ts';

export interface GoldenSample {
  messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
  prompt: string;
  prompt_ids: number[];
  greedy_ids: number[];
  greedy_text: string;
}

/** GET /health's body. */
export interface HealthReply {
  status: string;
  model: string | null;
  models: string[];
  instances: { id: string; address: string; model: string }[];
  requests: RequestCounts;
}

export function goldenSamples(): GoldenSample[] {
  return JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')).samples;
}

/**
 * Logs would drown the test report: a test file calls this once, at its top; warnings and errors still show.
 * (A function, not an import-time call: importing a kit never changes anything.)
 */
export function quietLogs(): void {
  configureLogging({ level: 'warn' });
}

const DHW = join(repoRoot, 'bin', 'dhw.mjs');

export function freshNamespace(): string {
  return `t${randomBytes(4).toString('hex')}`;
}

/** A `dhw worker` child process, registered and serving. */
export interface WorkerProcess {
  child: ChildProcess;
  instanceId: string;
  address: string;
  systemPort: number;
  output: () => string;
  /** GET /metrics on the worker's status port. */
  metrics(): Promise<string>;
  /** SIGTERM (drain), SIGKILL after 5 s. */
  stop(): Promise<void>;
  exited: Promise<number | null>;
}

/** A running `dhw` child process. */
export interface DhwProcess {
  child: ChildProcess;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output: () => string;
  /** The match of the ready pattern. */
  ready: RegExpExecArray;
  exited: Promise<number | null>;
}

/**
 * Start `dhw ARGS` and wait until its output matches `ready`; throws with the output if it exits first or
 * is not ready within `timeoutMs`. Children still running when the test process exits are killed.
 */
export async function spawnDhw(
  args: string[],
  ready: RegExp,
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<DhwProcess> {
  const child = spawn(process.execPath, [DHW, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killWithTestProcess(child);
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let match = ready.exec(out);
  while (!match) {
    if (child.exitCode !== null)
      throw new Error(`dhw ${args[0]} exited (${child.exitCode}) before it was ready:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL'); // nobody gets a handle to stop it
      throw new Error(`dhw ${args[0]} not ready within ${timeoutMs / 1000} s:\n${out}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
    match = ready.exec(out);
  }
  return { child, output: () => out, ready: match, exited };
}

/** Start `dhw worker ARGS` and wait for its "Worker <id> serving ... on <addr>, status <url>" line. */
export async function spawnWorker(args: string[], env: Record<string, string> = {}): Promise<WorkerProcess> {
  const { child, output, ready, exited } = await spawnDhw(
    ['worker', '--canary-interval', '0', '--log-level', 'warn', ...args],
    /Worker ([0-9a-f]+) serving .* on (\S+?), status http:\/\/[^:]+:(\d+)\/health/,
    { env },
  );
  const [, instanceId, address, systemPort] = ready;
  return {
    child,
    instanceId,
    address,
    systemPort: Number(systemPort),
    output,
    metrics: async () => (await fetch(`http://127.0.0.1:${systemPort}/metrics`)).text(),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
    exited,
  };
}

/** Sum of every sample of `name` whose labels contain all of `labels` (Prometheus text, parsed by hand). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Poll `check` until it is true, or throw naming `what`. */
export async function eventually(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A frontend on a free port; resolves once `workers` instances are routable. */
export async function startTestFrontend(options: FrontendOptions, workers: number): Promise<FrontendHandle> {
  const frontend = await startFrontend({ host: '127.0.0.1', port: 0, drainTimeoutMs: 2000, ...options });
  await eventually(
    () => frontend.models.instances().length >= workers,
    `${workers} worker(s) in the frontend`,
  );
  return frontend;
}

export interface TestServer {
  server: FrontendHandle;
  /** `${url}/v1`, for the openai client. */
  baseURL: string;
  worker: WorkerProcess;
  tokenizer: Tokenizer;
  /** The model card's context length (the worker engine's maxModelLen). */
  contextLength: number;
  close(): Promise<void>;
}

/**
 * One scratch worker (fortune-llama) behind a frontend, through file discovery in a temp dir and the TCP
 * request plane: the same path a request takes in production, minus etcd.
 */
export async function startTestServer(
  options: { maxBodyBytes?: number; modelName?: string } = {},
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'dhw-frontend-test-'));
  const namespace = freshNamespace();
  const modelName = options.modelName ?? 'fortune-llama';
  const worker = await spawnWorker([
    '--discovery',
    'file',
    '--discovery-dir',
    dir,
    '--events',
    'memory',
    '--namespace',
    namespace,
    '--served-model-name',
    modelName,
  ]);
  const server = await startTestFrontend(
    {
      namespace,
      discovery: { backend: 'file', fileDir: dir },
      events: { backend: 'memory' },
      router: { router: 'round-robin' },
      maxBodyBytes: options.maxBodyBytes,
    },
    1,
  );
  const model = server.models.find(modelName);
  if (!model) throw new Error(`model ${modelName} not served`);
  return {
    server,
    baseURL: `${server.url}/v1`,
    worker,
    tokenizer: model.tokenizer,
    contextLength: model.engine.info.contextLength,
    close: async () => {
      await server.close();
      await worker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
