/** The `model` field must name the served model (or be left out, as vLLM allows). */
import { modelNotFound } from '../http-errors.ts';
import type { ServerState } from '../request-context.ts';

export function checkModel(server: ServerState, requested: string | undefined): void {
  if (requested === undefined || server.acceptedModelNames.includes(requested)) return;
  throw modelNotFound(requested, server.acceptedModelNames);
}
