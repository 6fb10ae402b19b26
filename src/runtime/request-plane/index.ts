export { type DialTarget, parseAddress, UNIX_ADDRESS_PREFIX } from './client-connection.ts';
export { dialAddress, unixTransport } from './dial-address.ts';
export { DEFAULT_STREAM_WINDOW, RequestPlaneClient, type RequestPlaneClientOptions } from './client.ts';
export {
  ConnectError,
  FrameError,
  FrameTooLargeError,
  ListenError,
  RemoteError,
  RequestTimeoutError,
  StreamDisconnectedError,
  type StreamOrigin,
} from './errors.ts';
export { InMemoryRequestPlane, type InMemoryRequestPlaneOptions } from './memory-request-plane.ts';
export type {
  CallOptions,
  EndpointHandler,
  HandlerContext,
  RequestPlane,
  ServeHandle,
  StopOptions,
} from './request-plane.ts';
export { type ListenAddress, RequestPlaneServer, type RequestPlaneServerOptions } from './server.ts';
export { TcpRequestPlane, type TcpRequestPlaneOptions } from './tcp-request-plane.ts';
