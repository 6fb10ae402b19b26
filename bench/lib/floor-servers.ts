/**
 * The servers `npm run bench:frontend-floor` measures, each the least any Node stack must do for one
 * non-streaming completion, run as its own process (`node bin/run-ts.mjs bench/lib/floor-servers.ts MODE`):
 *
 *   http              node:http answers a canned completion JSON: no hop, no parsing of the request body
 *   hop               a raw TCP server speaking the request-plane framing: per REQUEST frame it writes
 *                     `tokens` DATA frames (an EngineOutput-shaped JSON each) and a FINAL, in one write
 *   http-hop ADDRESS  node:http → one keep-alive TCP connection to `hop`: a REQUEST frame per HTTP request,
 *                     every DATA frame parsed, the canned JSON once FINAL arrives (the least a proxy does)
 *   rp                our RequestPlaneServer: a `generate` handler (async generator) yielding `tokens` items
 *   http-rp ADDRESS   node:http → our TcpRequestPlane client: `call(address, 'generate')`, items iterated
 *
 * So `http` is what a Node HTTP server costs here, `http-hop` adds the cheapest possible second process, and
 * `http-rp` adds our request plane's own layers (stream ids, credit, async iteration) on the same hop. Each
 * prints "listening PORT" when ready. Like nginx's `return 200` vs `proxy_pass` to a trivial upstream.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from 'node:net';
import { FrameType } from '../../src/protocols/request-plane.ts';
import { encodeFrame, FrameDecoder, parsePayload } from '../../src/runtime/request-plane/frame-codec.ts';
import { TcpRequestPlane } from '../../src/runtime/request-plane/index.ts';

const TOKENS = 8;

/** A completion response of the size and shape our frontend sends for 8 tokens. */
const COMPLETION = JSON.stringify({
  id: 'cmpl-0123456789abcdef0123456789abcdef',
  object: 'text_completion',
  created: 1765000000,
  model: 'fortune-llama',
  system_fingerprint: 'fp_0123456789ab',
  choices: [
    { index: 0, text: ' the quick brown fox jumps over a lazy', logprobs: null, finish_reason: 'length' },
  ],
  usage: {
    prompt_tokens: 64,
    completion_tokens: TOKENS,
    total_tokens: 64 + TOKENS,
    prompt_tokens_details: { cached_tokens: 48, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  },
});

const output = (requestId: string, i: number) => ({
  requestId,
  tokenId: 1000 + i,
  numCachedTokens: 48,
  ...(i === TOKENS - 1 ? { finishReason: 'length' } : {}),
});

function listening(server: { address(): AddressInfo | string | null }): void {
  console.log(`listening ${(server.address() as AddressInfo).port}`);
}

/** Read the body (a real server must), then answer the canned completion. */
function answerAfterBody(req: IncomingMessage, res: ServerResponse, work: () => Promise<void>): void {
  req.on('data', () => {});
  req.on('end', () => {
    work().then(
      () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': COMPLETION.length });
        res.end(COMPLETION);
      },
      (error: Error) => {
        res.writeHead(500);
        res.end(error.message);
      },
    );
  });
}

function serveHttp(work: () => Promise<void>): void {
  const server = createHttpServer((req, res) => answerAfterBody(req, res, work));
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => listening(server));
}

/** The hop: every REQUEST frame answered with TOKENS DATA frames and a FINAL, in one write. */
function serveHop(): void {
  const server = createNetServer((socket) => {
    socket.setNoDelay(true);
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      const frames: Buffer[] = [];
      for (const frame of decoder.push(chunk)) {
        if (frame.type !== FrameType.Request) continue;
        const { requestId } = parsePayload(frame) as { requestId: string };
        for (let i = 0; i < TOKENS; i++)
          frames.push(encodeFrame(FrameType.Data, frame.streamId, output(requestId, i)));
        frames.push(encodeFrame(FrameType.Final, frame.streamId, {}));
      }
      if (frames.length > 0) socket.write(Buffer.concat(frames));
    });
  });
  server.listen(0, '127.0.0.1', () => listening(server));
}

/** One multiplexed connection to the hop: stream id → the request waiting for its FINAL. */
function hopClient(address: string): () => Promise<void> {
  const [host, port] = address.split(':');
  const socket: Socket = connect({ host, port: Number(port) });
  socket.setNoDelay(true);
  const decoder = new FrameDecoder();
  const waiting = new Map<number, () => void>();
  let nextId = 1;
  socket.on('data', (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) {
      if (frame.type === FrameType.Data) parsePayload(frame);
      else if (frame.type === FrameType.Final) {
        waiting.get(frame.streamId)?.();
        waiting.delete(frame.streamId);
      }
    }
  });
  return () =>
    new Promise<void>((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      const request = { endpoint: 'generate', requestId: `r${id}`, window: 16, payload: { tokens: TOKENS } };
      socket.write(encodeFrame(FrameType.Request, id, request));
    });
}

function rpClient(address: string): () => Promise<void> {
  const plane = new TcpRequestPlane();
  let n = 0;
  return async () => {
    const requestId = `r${++n}`;
    for await (const _ of plane.call(address, 'generate', { requestId }, { requestId })) {
      // every item is parsed by the plane; nothing more to do with it
    }
  };
}

async function serveRp(): Promise<void> {
  const plane = new TcpRequestPlane();
  const handle = await plane.serve({
    generate: async function* (payload) {
      const { requestId } = payload as { requestId: string };
      for (let i = 0; i < TOKENS; i++) yield output(requestId, i);
    },
  });
  console.log(`listening ${handle.address.split(':').pop()}`);
}

const [mode, address] = process.argv.slice(2);
const hopAddress = () => {
  if (!address) throw new Error(`floor-servers ${mode} needs the hop's address (host:port)`);
  return address;
};
switch (mode) {
  case 'http':
    serveHttp(async () => {});
    break;
  case 'hop':
    serveHop();
    break;
  case 'http-hop':
    serveHttp(hopClient(hopAddress()));
    break;
  case 'rp':
    await serveRp();
    break;
  case 'http-rp':
    serveHttp(rpClient(hopAddress()));
    break;
  default:
    throw new Error(
      `floor-servers: unknown mode ${JSON.stringify(mode)}; use http, hop, http-hop, rp or http-rp`,
    );
}
