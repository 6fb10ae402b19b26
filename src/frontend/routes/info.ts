/** GET /v1/models (the served model's card), GET /health (status + request counts), GET /live. */
import type { ModelList } from '../../protocols/openai.ts';
import type { RequestContext, ServerState } from '../request-context.ts';
import { sendJson } from '../request-context.ts';

export function handleModels(server: ServerState, ctx: RequestContext): void {
  const list: ModelList = {
    object: 'list',
    data: [
      {
        id: server.modelName,
        object: 'model',
        created: server.startedAt,
        owned_by: 'dhw',
        max_model_len: server.engine.info.contextLength,
      },
    ],
  };
  sendJson(ctx.res, 200, list);
}

export function handleHealth(server: ServerState, ctx: RequestContext): void {
  sendJson(ctx.res, 200, {
    status: 'healthy',
    model: server.modelName,
    uptime_s: Math.round(Date.now() / 1000 - server.startedAt),
    requests: server.stats.snapshot(),
  });
}

export function handleLive(_server: ServerState, ctx: RequestContext): void {
  sendJson(ctx.res, 200, { status: 'live' });
}

/** GET /metrics: Prometheus text format, Dynamo's metric names (see metrics.ts). */
export async function handleMetrics(server: ServerState, ctx: RequestContext): Promise<void> {
  const { contentType, body } = await server.metrics.render();
  ctx.res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  ctx.res.end(body);
}
