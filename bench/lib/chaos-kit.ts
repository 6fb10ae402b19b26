/**
 * The pieces `npm run chaos` assembles a fault scenario from: real etcd and nats-server on free ports,
 * `dhw worker` / `dhw frontend` child processes that can be `kill -9`ed, and a client that streams
 * completions and records, for each request, when it ran, whether it completed and what it produced.
 * Like a Jepsen harness: the nemesis is the scenario's, the history is this file's.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../../src/infra/local-servers.ts';
import { repoRoot } from '../../src/util/paths.ts';

const DHW = join(repoRoot, 'bin', 'dhw.mjs');
const WORKER_READY = /Worker ([0-9a-f]+) serving \S+ on (\S+?), status http:\/\/[^:]+:(\d+)\/health/;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every child any scenario started: killed if the bench exits early. */
const everyChild = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of everyChild) child.kill('SIGKILL');
});

export interface DhwChild {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** `dhw ARGS` as a child; resolves once its output matches `ready` (throws with the output otherwise). */
export async function spawnDhw(
  args: string[],
  ready: RegExp,
  timeoutMs = 180_000,
): Promise<DhwChild & { match: RegExpExecArray }> {
  const child = spawn(process.execPath, [DHW, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  everyChild.add(child);
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code))).finally(
    () => everyChild.delete(child),
  );
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  for (const deadline = Date.now() + timeoutMs; ; ) {
    const match = ready.exec(out);
    if (match) return { child, output: () => out, exited, kill, match };
    if (child.exitCode !== null || Date.now() > deadline) {
      await kill();
      throw new Error(`dhw ${args.slice(0, 2).join(' ')} did not start:\n${out.slice(-3000)}`);
    }
    await sleep(25);
  }
}

export interface ChaosWorker extends DhwChild {
  instanceId: string;
  /** Request-plane address ("host:port"). */
  address: string;
}

/** Real etcd + NATS and the flags every dhw child needs to reach them under one namespace. */
export class ChaosInfra {
  private constructor(
    readonly etcd: EtcdServer,
    readonly nats: NatsServer,
    readonly namespace: string,
  ) {}

  static async start(name: string): Promise<ChaosInfra> {
    const [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
    return new ChaosInfra(etcd, nats, `chaos${name}${process.pid}`);
  }

  runtimeArgs(): string[] {
    return [
      ...['--namespace', this.namespace, '--discovery', 'etcd', '--etcd-endpoints', this.etcd.endpoint],
      ...['--events', 'nats', '--nats-server', this.nats.url, '--log-level', 'warn'],
    ];
  }

  async spawnWorker(extra: string[]): Promise<ChaosWorker> {
    const w = await spawnDhw(
      ['worker', ...this.runtimeArgs(), '--canary-interval', '0', '--system-port', '0', ...extra],
      WORKER_READY,
    );
    return { ...w, instanceId: w.match[1]!, address: w.match[2]! };
  }

  /** Instance keys of this namespace in etcd (undefined while etcd does not answer). */
  async registeredInstances(): Promise<number | undefined> {
    const prefix = `/dynamo/v1/instances/${this.namespace}/`;
    const end = Buffer.from(prefix);
    end[end.length - 1]! += 1;
    try {
      const res = await fetch(`${this.etcd.endpoint}/v3/kv/range`, {
        method: 'POST',
        body: JSON.stringify({
          key: Buffer.from(prefix).toString('base64'),
          range_end: end.toString('base64'),
          count_only: true,
        }),
        signal: AbortSignal.timeout(1000),
      });
      const body = (await res.json()) as { count?: string };
      return Number(body.count ?? 0);
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.etcd.stop(), this.nats.stop()]);
  }
}

/** One request's history entry. */
export interface Outcome {
  id: string;
  ok: boolean;
  startedAt: number;
  endedAt: number;
  status: number;
  text: string;
  tokens: number;
  cachedTokens: number;
  error?: string;
}

export interface CompletionSpec {
  id: string;
  prompt: number[];
  maxTokens: number;
  stream?: boolean;
}

/** One completion (greedy, ignore_eos); ok only with every token and no error event. */
export async function complete(url: string, spec: CompletionSpec): Promise<Outcome> {
  const startedAt = Date.now();
  const base = { id: spec.id, startedAt, text: '', tokens: 0, cachedTokens: 0 };
  try {
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': spec.id },
      body: JSON.stringify({
        model: 'fortune-llama',
        prompt: spec.prompt,
        max_tokens: spec.maxTokens,
        temperature: 0,
        ignore_eos: true,
        stream: spec.stream ?? true,
        ...(spec.stream === false ? {} : { stream_options: { include_usage: true } }),
      }),
    });
    if (res.status !== 200) {
      const error = `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`;
      return { ...base, ok: false, endedAt: Date.now(), status: res.status, error };
    }
    const parsed =
      spec.stream === false
        ? parseBody((await res.json()) as Parameters<typeof parseBody>[0])
        : await parseStream(res);
    const ok = parsed.errors.length === 0 && parsed.tokens === spec.maxTokens;
    const error = ok ? undefined : parsed.errors.join('; ') || `${parsed.tokens} of ${spec.maxTokens} tokens`;
    return { ...base, ...parsed, ok, endedAt: Date.now(), status: 200, error };
  } catch (err) {
    return { ...base, ok: false, endedAt: Date.now(), status: 0, error: (err as Error).message };
  }
}

interface Usage {
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number };
}

function parseBody(body: { choices?: { text?: string }[]; usage?: Usage }) {
  return {
    text: body.choices?.[0]?.text ?? '',
    tokens: body.usage?.completion_tokens ?? 0,
    cachedTokens: body.usage?.prompt_tokens_details?.cached_tokens ?? 0,
    errors: [] as string[],
  };
}

async function parseStream(res: Response) {
  let buffered = '';
  let text = '';
  let tokens = 0;
  let cachedTokens = 0;
  const errors: string[] = [];
  const decoder = new TextDecoder();
  for await (const bytes of res.body as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(bytes, { stream: true });
    const events = buffered.split('\n\n');
    buffered = events.pop() ?? '';
    for (const event of events) {
      const data = event.replace(/^data: /, '');
      if (data === '[DONE]' || data.trim() === '') continue;
      const chunk = JSON.parse(data) as {
        error?: { message: string };
        choices?: { text?: string }[];
        usage?: Usage;
      };
      if (chunk.error) errors.push(chunk.error.message);
      text += chunk.choices?.[0]?.text ?? '';
      if (chunk.usage) {
        tokens = chunk.usage.completion_tokens ?? tokens;
        cachedTokens = chunk.usage.prompt_tokens_details?.cached_tokens ?? cachedTokens;
      }
    }
  }
  return { text, tokens, cachedTokens, errors };
}

/** A prompt no other request of this run shares (token ids in the model's vocabulary). */
export function freshPrompt(seed: number, length: number): number[] {
  return Array.from({ length }, (_, i) => 200 + ((seed * 7919 + i * 31) % 1800));
}

/**
 * `concurrency` clients sending fresh prompts back to back until `stopAt()` says so; every outcome is
 * recorded.
 */
export async function steadyLoad(
  url: () => string,
  opts: { concurrency: number; stopAt: () => boolean; maxTokens: number; promptTokens: number; tag: string },
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let sequence = 0;
  const client = async () => {
    while (!opts.stopAt()) {
      const n = ++sequence;
      const outcome = await complete(url(), {
        id: `${opts.tag}-${n}`,
        prompt: freshPrompt(n + opts.tag.length * 100_003, opts.promptTokens),
        maxTokens: opts.maxTokens,
      });
      outcomes.push(outcome);
      if (!outcome.ok) await sleep(200); // a refused connection fails at once: do not spin
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, client));
  return outcomes;
}

/** Moments when a condition held, sampled every `everyMs`, so outcomes can be matched to them. */
export class Timeline {
  private readonly marks: { at: number; value: boolean }[] = [];
  private timer: NodeJS.Timeout;

  constructor(sample: () => boolean | Promise<boolean>, everyMs = 100) {
    this.timer = setInterval(async () => {
      this.marks.push({ at: Date.now(), value: await sample() });
    }, everyMs);
  }

  /** Whether the condition was seen true at some sample within [from - slackMs, to + slackMs]. */
  heldDuring(from: number, to: number, slackMs = 250): boolean {
    return this.marks.some((m) => m.value && m.at >= from - slackMs && m.at <= to + slackMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
