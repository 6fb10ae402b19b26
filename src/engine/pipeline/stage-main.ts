/**
 * Entry point of a stage process the engine spawns (stage-launcher.ts): options as one JSON argument, the
 * listening address announced on stdout, exit when the engine goes away (its connection closes, or stdin,
 * the pipe from the parent, ends: a parent killed with SIGKILL closes it too).
 */
import { PipelineStageServer, type StageServerOptions } from './stage-server.ts';
import { configureLogging, type LoggerOptions } from '../../util/logger.ts';
import { STAGE_READY_PREFIX } from './stage-wire.ts';

const { options, logging } = JSON.parse(process.argv[2] ?? '{}') as {
  options: StageServerOptions;
  logging: Pick<LoggerOptions, 'level' | 'format'>;
};
configureLogging(logging);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
try {
  const server = await PipelineStageServer.start({ ...options, exitWhenUpstreamCloses: true });
  process.stdout.write(`${STAGE_READY_PREFIX}${server.address}\n`);
} catch (err) {
  process.stderr.write(`pipeline stage ${options.stage} failed to start: ${(err as Error).message}\n`);
  process.exit(1);
}
