/**
 * Test helpers for the frontend's server tests: a real server on a free port, serving the bundled
 * fortune-llama model through the real engine and tokenizer, plus the model's golden greedy outputs.
 * `SpyEngine` wraps an engine to observe cancellation, like a tap on a backend connection.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LlmEngine } from '../engine/index.ts';
import type { EngineOutput, EngineRequest, InferenceEngine } from '../protocols/engine.ts';
import { Tokenizer } from '../tokens/index.ts';
import { configureLogging } from '../util/logger.ts';
import { defaultModelDir } from '../util/paths.ts';
import { type HttpServerHandle, startHttpServer } from './http-server.ts';
import type { RequestCounts } from './request-stats.ts';

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
  model: string;
  requests: RequestCounts;
}

export function goldenSamples(): GoldenSample[] {
  return JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')).samples;
}

/** What the spy saw of one request. */
export interface SpiedRequest {
  request: EngineRequest;
  signal?: AbortSignal;
  tokens: number;
  /** Resolves when the engine's stream was closed, by finishing, by the consumer breaking out, or by abort. */
  ended: Promise<void>;
}

export class SpyEngine implements InferenceEngine {
  readonly requests: SpiedRequest[] = [];

  constructor(private readonly inner: InferenceEngine) {}

  get info() {
    return this.inner.info;
  }

  generate(request: EngineRequest, signal?: AbortSignal): AsyncIterable<EngineOutput> {
    let markEnded = (): void => {};
    const spied: SpiedRequest = { request, signal, tokens: 0, ended: new Promise((r) => (markEnded = r)) };
    this.requests.push(spied);
    const inner = this.inner;
    return (async function* () {
      try {
        for await (const output of inner.generate(request, signal)) {
          spied.tokens++;
          yield output;
        }
      } finally {
        markEnded();
      }
    })();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

export interface TestServer {
  server: HttpServerHandle;
  /** `${url}/v1`, for the openai client. */
  baseURL: string;
  engine: SpyEngine;
  tokenizer: Tokenizer;
  close(): Promise<void>;
}

/** Logs would drown the test report; warnings and errors still show. */
configureLogging({ level: 'warn' });

export async function startTestServer(
  options: { maxBodyBytes?: number; modelName?: string } = {},
): Promise<TestServer> {
  const tokenizer = await Tokenizer.fromDir(defaultModelDir);
  const engine = new SpyEngine(await LlmEngine.create({ modelDir: defaultModelDir }));
  const server = await startHttpServer({
    engine,
    tokenizer,
    modelName: options.modelName ?? 'fortune-llama',
    modelDir: defaultModelDir,
    host: '127.0.0.1',
    port: 0,
    maxBodyBytes: options.maxBodyBytes,
    drainTimeoutMs: 2000,
  });
  return {
    server,
    baseURL: `${server.url}/v1`,
    engine,
    tokenizer,
    close: async () => {
      await server.close();
      await engine.close();
    },
  };
}
