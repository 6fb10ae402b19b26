/** Runs the one RequestPlane contract against both implementations. */
import { InMemoryRequestPlane } from './memory-request-plane.ts';
import { requestPlaneConformance } from './request-plane.conformance.ts';
import { TcpRequestPlane } from './tcp-request-plane.ts';

requestPlaneConformance('TCP (loopback)', (options) => new TcpRequestPlane(options));
requestPlaneConformance('in-memory', (options) => new InMemoryRequestPlane(options));
