/**
 * `dhw serve`: the single-process server (what `npm start` runs). Loads the model into an engine, puts the
 * OpenAI-compatible HTTP server in front of it, and shuts down cleanly on Ctrl-C / SIGTERM: stop accepting,
 * let in-flight requests finish, release the engine.
 */
import { basename } from 'node:path';
import { LlmEngine } from '../../engine/llm-engine.ts';
import { startHttpServer } from '../../frontend/index.ts';
import { Tokenizer } from '../../tokens/index.ts';
import { getLogger } from '../../util/logger.ts';
import { ENGINE_FLAGS, formatHelp, LOGGING_FLAGS, numberFlag, parseCommand, stringFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { applyLoggingFlags, engineOptionsFromFlags, resolveModelDir } from '../engine-setup.ts';

const FLAGS = {
  model: { type: 'string' as const, help: 'checkpoint folder (default: models/fortune-llama)' },
  'served-model-name': { type: 'string' as const, help: 'model name clients use (default: the folder name)' },
  host: { type: 'string' as const, default: '0.0.0.0', help: 'address to listen on' },
  port: { type: 'string' as const, default: '8000', help: 'TCP port to listen on' },
  ...ENGINE_FLAGS,
  ...LOGGING_FLAGS,
};
const USAGE = 'dhw serve [DIR] [--port 8000] [--host 0.0.0.0] [engine options]';
const DESCRIPTION = 'Serve a model over an OpenAI-compatible HTTP API from one process.';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve a model over the OpenAI API (npm start)',
  async run(argv) {
    const { values, positionals } = parseCommand(argv, FLAGS);
    if (values.help) {
      console.log(formatHelp(USAGE, DESCRIPTION, FLAGS));
      return 0;
    }
    applyLoggingFlags(values);
    const log = getLogger('serve');
    const modelDir = resolveModelDir(stringFlag(values, 'model') ?? positionals[0]);
    const modelName = stringFlag(values, 'served-model-name') ?? basename(modelDir);
    const port = numberFlag(values, 'port', { integer: true, min: 0 }) ?? 8000;
    const host = stringFlag(values, 'host') ?? '0.0.0.0';

    log.info('loading model', { modelDir });
    const tokenizer = await Tokenizer.fromDir(modelDir);
    const engine = await LlmEngine.create({ ...engineOptionsFromFlags(values, modelDir), modelName });
    const server = await startHttpServer({ engine, tokenizer, modelName, modelDir, host, port });
    const shown = host === '0.0.0.0' || host === '::' ? `http://localhost:${server.port}` : server.url;
    log.info('serving', { model: modelName, url: shown, openaiBaseUrl: `${shown}/v1` });
    console.log(`Serving ${modelName} at ${shown}/v1 (Ctrl-C to stop)`);

    await new Promise<void>((resolveStop) => {
      const stop = (signal: string) => {
        log.info('shutting down', { signal });
        resolveStop();
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    await server.close();
    await engine.close();
    log.info('stopped');
    return 0;
  },
};
