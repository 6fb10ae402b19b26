/** Runs the one RequestPlane contract against every implementation and transport. */
import { InMemoryRequestPlane } from './memory-request-plane.ts';
import { requestPlaneConformance } from './request-plane.conformance.ts';
import type { CallOptions, EndpointHandler, RequestPlane, ServeHandle } from './request-plane.ts';
import { TcpRequestPlane, type TcpRequestPlaneOptions } from './tcp-request-plane.ts';

/**
 * The TCP plane with a Unix socket beside each server, whose handles report the socket as their address:
 * callers of the suite dial `unix:/path`, the way a frontend dials a same-host worker.
 */
class UnixSocketPlane implements RequestPlane {
  private readonly tcp: TcpRequestPlane;

  constructor(options: TcpRequestPlaneOptions) {
    this.tcp = new TcpRequestPlane({ ...options, unixSocket: true });
  }

  async serve(endpoints: Record<string, EndpointHandler>): Promise<ServeHandle> {
    const handle = await this.tcp.serve(endpoints);
    if (handle.localAddress === undefined) throw new Error('the server opened no Unix socket');
    const address = handle.localAddress;
    return {
      address,
      localAddress: address,
      get activeStreams() {
        return handle.activeStreams;
      },
      stop: (options) => handle.stop(options),
    };
  }

  call(address: string, endpoint: string, payload: unknown, options?: CallOptions): AsyncIterable<unknown> {
    return this.tcp.call(address, endpoint, payload, options);
  }

  close(): Promise<void> {
    return this.tcp.close();
  }
}

requestPlaneConformance('TCP (loopback)', (options) => new TcpRequestPlane(options));
requestPlaneConformance('Unix-domain socket', (options) => new UnixSocketPlane(options));
requestPlaneConformance('in-memory', (options) => new InMemoryRequestPlane(options));
