export { type HttpServerHandle, type HttpServerOptions, startHttpServer } from './http-server.ts';
export { HttpError } from './http-errors.ts';
export { chatPromptIds, completionPromptIds, resolveMaxTokens } from './preprocessor.ts';
export type { RequestCounts } from './request-stats.ts';
export { SseWriter } from './sse.ts';
export { type StopMatch, StopStringMatcher } from './stop-strings.ts';
export { streamText, type TextStreamEvent } from './text-stream.ts';
