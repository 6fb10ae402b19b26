/**
 * Which model a request is for. `model` must name a served model or one of its aliases; it may be left
 * out when exactly one model is served (as vLLM allows). With no model at all the stack has no workers
 * yet: that is a 503 (retry later), like a proxy whose upstream pool is empty.
 */
import { HttpError, modelNotFound, noWorkersAvailable } from '../http-errors.ts';
import type { RequestContext, ServerState } from '../request-context.ts';
import type { ServedModel } from '../served-model.ts';

export function resolveModel(
  server: ServerState,
  ctx: RequestContext,
  requested: string | undefined,
): ServedModel {
  const models = server.models.list();
  const unservable = server.models.unservable?.() ?? [];
  const failure = unservable.find((u) => u.model === requested) ?? (requested ? undefined : unservable[0]);
  if (failure && (models.length === 0 || requested !== undefined)) {
    throw noWorkersAvailable(`model '${failure.model}' is registered but not served here: ${failure.reason}`);
  }
  if (models.length === 0)
    throw noWorkersAvailable('no model is registered yet (start a worker: `dhw worker`)');
  let model: ServedModel | undefined;
  if (requested === undefined) {
    if (models.length > 1) {
      throw new HttpError(
        400,
        `"model" is required: this server serves ${models.map((m) => `'${m.name}'`).join(', ')}`,
        'invalid_request_error',
        'model',
      );
    }
    model = models[0];
  } else {
    model = server.models.find(requested);
    if (!model)
      throw modelNotFound(
        requested,
        models.flatMap((m) => [m.name, ...m.aliases]),
      );
  }
  ctx.observation?.setModel(model.name);
  ctx.log = ctx.log.child({ model: model.name });
  return model;
}
