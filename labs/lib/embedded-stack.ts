/**
 * What `dhw serve` (and `npm start`) runs by default, built by hand: N workers and one frontend in this
 * process, wired by in-memory discovery, an in-memory event bus and an in-memory request plane. No etcd, no
 * NATS, no ports except the frontend's HTTP port. Like running nginx and its upstream app in one container
 * talking over a Unix socket: the same code paths as a fleet, without the network in between.
 */
import { type DeploymentRouterFlags, type FrontendHandle, startFrontend } from '../../src/frontend/index.ts';
import type { MockEngineOptions } from '../../src/mocker/index.ts';
import {
  type CallOptions,
  type EndpointHandler,
  InMemoryRequestPlane,
  type RequestPlane,
  type ServeHandle,
} from '../../src/runtime/request-plane/index.ts';
import { defaultModelDir } from '../../src/util/paths.ts';
import { Worker, type WorkerEngineSpec } from '../../src/worker/index.ts';

export interface EmbeddedStackOptions {
  workers?: number;
  /** 'scratch' = the real fortune-llama engine (default); 'mocker' = simulated. */
  engine?: 'scratch' | 'mocker';
  mocker?: MockEngineOptions;
  router?: DeploymentRouterFlags;
  /** Largest request body the frontend accepts (413 above). */
  maxBodyBytes?: number;
  migrationLimit?: number;
  /** Sees every request-plane call the frontend makes (endpoint + payload), like a packet tap. */
  onCall?: (endpoint: string, payload: unknown) => void;
}

export interface EmbeddedStack {
  url: string;
  frontend: FrontendHandle;
  workers: Worker[];
  /** Stop the frontend (drain), then the workers. */
  close(): Promise<void>;
}

export async function startEmbeddedStack(options: EmbeddedStackOptions = {}): Promise<EmbeddedStack> {
  const plane = new TappedPlane(new InMemoryRequestPlane(), options.onCall);
  const engine: WorkerEngineSpec =
    options.engine === 'mocker'
      ? { kind: 'mocker', modelDir: defaultModelDir, options: options.mocker }
      : { kind: 'scratch', options: { modelDir: defaultModelDir } };
  const workers: Worker[] = [];
  let frontend: FrontendHandle | undefined;
  const close = async () => {
    await frontend?.close();
    await Promise.all(workers.map((w) => w.stop({ drainMs: 1000 })));
    await plane.close();
  };
  try {
    for (let i = 0; i < (options.workers ?? 1); i++) {
      workers.push(
        await Worker.start({
          engine,
          discovery: { backend: 'memory' },
          events: { backend: 'memory' },
          runtime: { requestPlane: plane },
          systemPort: null,
          canaryIntervalMs: 0,
        }),
      );
    }
    frontend = await startFrontend({
      discovery: { backend: 'memory' },
      events: { backend: 'memory' },
      runtime: { requestPlane: plane },
      router: options.router,
      migrationLimit: options.migrationLimit,
      maxBodyBytes: options.maxBodyBytes,
      host: '127.0.0.1',
      port: 0,
      drainTimeoutMs: 2000,
    });
    const deadline = Date.now() + 10_000;
    while (frontend.models.instances().length < workers.length) {
      if (Date.now() > deadline)
        throw new Error('the frontend did not see its in-process workers within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { url: frontend.url, frontend, workers, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The in-memory request plane with a tap on `call`: what crosses from the frontend to a worker. */
class TappedPlane implements RequestPlane {
  constructor(
    private readonly inner: RequestPlane,
    private readonly tap?: (endpoint: string, payload: unknown) => void,
  ) {}

  serve(endpoints: Record<string, EndpointHandler>): Promise<ServeHandle> {
    return this.inner.serve(endpoints);
  }

  call(address: string, endpoint: string, payload: unknown, options?: CallOptions): AsyncIterable<unknown> {
    this.tap?.(endpoint, payload);
    return this.inner.call(address, endpoint, payload, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
