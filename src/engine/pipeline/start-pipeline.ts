/**
 * Bringing a pipeline up for an engine: stage 0 is the engine's own model part; stages 1..p−1 are spawned
 * here (a local pipeline) or already running at the given addresses (stages on other hosts, started with
 * `dhw worker --pipeline-stage K`). Logs the layer split and what each stage holds.
 */
import {
  describeSplit,
  type KvCacheTensors,
  type LlamaModel,
  type ModelOptions,
  splitLayers,
} from '../../model/index.ts';
import { DhwError } from '../../util/errors.ts';
import { getLogger } from '../../util/logger.ts';
import type { BlockTableLookup } from '../model-runner.ts';
import { PipelineExecutor } from './pipeline-executor.ts';
import { parseHostPort } from './stage-address.ts';
import { type LocalStages, spawnLocalStages } from './stage-launcher.ts';

const log = getLogger('pipeline');

export interface PipelineSpec {
  modelDir: string;
  numStages: number;
  /** Micro-batches per step (default: numStages, enough to fill a pipeline of that depth). */
  microBatches?: number;
  /** Stages 1..p−1 already running (`host:port` each); none: spawn them on this host. */
  stageAddresses?: string[];
  /** Kernel threads per spawned stage process. */
  threads?: number;
  weightDtype?: ModelOptions['weightDtype'];
}

export async function startPipeline(
  spec: PipelineSpec,
  stage0: { model: LlamaModel; kvTensors: KvCacheTensors; blockTable: BlockTableLookup; vocabSize: number },
): Promise<PipelineExecutor> {
  const { numStages } = spec;
  const parts = splitLayers(stage0.model.config.numLayers, numStages);
  log.info('pipeline layer split', { stages: numStages, split: describeSplit(parts) });
  const given = spec.stageAddresses;
  if (given && given.length !== numStages - 1) {
    throw new DhwError(
      `--pipeline-stage-addresses names ${given.length} stage(s); --pipeline-parallel-size ${numStages} needs ${numStages - 1} (stages 1..${numStages - 1})`,
    );
  }
  for (const address of given ?? []) parseHostPort(address); // every typo at once, before dialing any
  let local: LocalStages | undefined;
  if (!given) {
    local = await spawnLocalStages({
      modelDir: spec.modelDir,
      numStages,
      threads: spec.threads,
      weightDtype: spec.weightDtype,
    });
  }
  try {
    const executor = await PipelineExecutor.connect({
      ...stage0,
      microBatches: spec.microBatches ?? numStages,
      addresses: given ?? local!.addresses,
      children: local?.children,
    });
    for (const s of executor.stages) {
      log.info('pipeline stage ready', {
        stage: s.stage,
        pid: s.pid,
        layers: `${s.layers[0]}-${s.layers[1] - 1}`,
        embed: s.embed,
        head: s.head,
        weightBytes: s.weightBytes,
        kvBytes: s.kvBytes,
        rssBytes: s.rssBytes,
      });
    }
    return executor;
  } catch (err) {
    for (const child of local?.children ?? []) child.kill('SIGKILL');
    throw err;
  }
}
