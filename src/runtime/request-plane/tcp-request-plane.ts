/**
 * `RequestPlane` over TCP: `serve` starts a RequestPlaneServer on a free port, `call` goes through one
 * pooled RequestPlaneClient. The wrapper the frontend and worker use when they run as separate processes.
 */
import { RequestPlaneClient, type RequestPlaneClientOptions } from './client.ts';
import type { CallOptions, EndpointHandler, RequestPlane, ServeHandle } from './request-plane.ts';
import { RequestPlaneServer } from './server.ts';

export interface TcpRequestPlaneOptions extends RequestPlaneClientOptions {
  /** Interface servers listen on (default 127.0.0.1). */
  host?: string;
  /** Host servers publish as their address (default: `host`; required when `host` is 0.0.0.0). */
  advertiseHost?: string;
  /** Port servers listen on (default 0 = a free one). */
  port?: number;
}

export class TcpRequestPlane implements RequestPlane {
  readonly client: RequestPlaneClient;

  constructor(private readonly options: TcpRequestPlaneOptions = {}) {
    this.client = new RequestPlaneClient(options);
  }

  async serve(endpoints: Record<string, EndpointHandler>): Promise<ServeHandle> {
    const { host, advertiseHost, port, maxFrameBytes, clusterSecret } = this.options;
    const server = new RequestPlaneServer({ host, advertiseHost, port, maxFrameBytes, clusterSecret });
    for (const [name, handler] of Object.entries(endpoints)) server.register(name, handler);
    await server.start();
    return {
      address: server.address,
      get activeStreams() {
        return server.activeStreams;
      },
      stop: (options) => server.stop(options),
    };
  }

  call(address: string, endpoint: string, payload: unknown, options?: CallOptions): AsyncIterable<unknown> {
    return this.client.call(address, endpoint, payload, options);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
