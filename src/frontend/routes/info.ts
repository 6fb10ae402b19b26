/**
 * GET /v1/models (the served models), GET /health (status, workers, request counts), GET /live,
 * GET /metrics.
 */
import type { ModelCard, ModelList } from '../../protocols/openai.ts';
import { HttpError, modelNotFound } from '../http-errors.ts';
import type { RequestContext, ServerState } from '../request-context.ts';
import { sendJson } from '../request-context.ts';
import type { ServedModel } from '../served-model.ts';

function modelCard(model: ServedModel): ModelCard {
  return {
    id: model.name,
    object: 'model',
    created: model.created,
    owned_by: 'dhw',
    max_model_len: model.engine.info.contextLength,
  };
}

export function handleModels(server: ServerState, ctx: RequestContext): void {
  const list: ModelList = { object: 'list', data: server.models.list().map(modelCard) };
  sendJson(ctx.res, 200, list);
}

export const MODEL_PATH_PREFIX = '/v1/models/';

/**
 * GET /v1/models/{id} (the client's `models.retrieve`): the model's card by its name or an alias, else
 * OpenAI's 404 `model_not_found`. The id is the rest of the path, percent-decoded ('org/name' ids keep
 * their slash).
 */
export function handleModel(server: ServerState, ctx: RequestContext): void {
  const path = (ctx.req.url ?? '').split('?')[0] ?? '';
  let id: string;
  try {
    id = decodeURIComponent(path.slice(MODEL_PATH_PREFIX.length));
  } catch {
    throw new HttpError(
      400,
      `the model id in ${path} is not valid percent-encoding`,
      'invalid_request_error',
      'model',
    );
  }
  const model = server.models.find(id);
  if (!model) {
    throw modelNotFound(
      id,
      server.models.list().flatMap((m) => [m.name, ...m.aliases]),
    );
  }
  sendJson(ctx.res, 200, modelCard(model));
}

/**
 * Always 200 while the process answers (like Dynamo's frontend): `status` says whether any model can be
 * served, `instances` lists the workers behind them (empty when the engine is in this process), and
 * `prefill_instances` the prefill workers of disaggregated models (only when there are some).
 */
export function handleHealth(server: ServerState, ctx: RequestContext): void {
  const models = server.models.list().map((m) => m.name);
  const prefill = server.models.prefillInstances?.() ?? [];
  sendJson(ctx.res, 200, {
    status: models.length > 0 ? 'healthy' : 'no_workers',
    model: models[0] ?? null,
    models,
    instances: server.models.instances(),
    ...(prefill.length > 0 ? { prefill_instances: prefill } : {}),
    uptime_s: Math.round(Date.now() / 1000 - server.startedAt),
    requests: server.stats.snapshot(),
  });
}

export function handleLive(_server: ServerState, ctx: RequestContext): void {
  sendJson(ctx.res, 200, { status: 'live' });
}

/** GET /metrics: Prometheus text format, Dynamo's metric names (see metrics.ts). */
export async function handleMetrics(server: ServerState, ctx: RequestContext): Promise<void> {
  for (const model of server.models.list()) server.metrics.declareModel(model.name);
  const { contentType, body } = await server.metrics.render();
  ctx.res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  ctx.res.end(body);
}
