/**
 * The fastest OpenAI-shaped streaming endpoint we can write: answers GET /v1/models and streams
 * `max_tokens` precomputed chunks plus usage and [DONE] at once, with no model and no waiting. Used by
 * `npm run bench:loadgen` (in its own process) to find the load generator's own ceiling: whatever rate the
 * client reaches here is the most it can ever measure. Prints "listening PORT" when ready.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const chunk = (i: number) => `data: {"choices":[{"index":0,"text":" t${i}"}]}\n\n`;
const bodies = new Map<number, string>();
function streamOf(tokens: number): string {
  let body = bodies.get(tokens);
  if (body === undefined) {
    body = '';
    for (let i = 0; i < tokens; i++) body += chunk(i);
    body += `data: {"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":${tokens}}}\n\ndata: [DONE]\n\n`;
    bodies.set(tokens, body);
  }
  return body;
}

const server = createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"object":"list","data":[{"id":"zero","object":"model"}]}');
    return;
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (s: string) => {
    body += s;
  });
  req.on('end', () => {
    const tokens = Number(/"max_tokens":(\d+)/.exec(body)?.[1] ?? 1);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(streamOf(tokens));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  console.log(`listening ${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => process.exit(0));
