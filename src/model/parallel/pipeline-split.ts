/**
 * How a pipeline cuts the model: p contiguous layer ranges, one per stage, the first stage also holding the
 * embedding and the last one the final norm and LM head. Like striping a file over disks in contiguous
 * extents: each stage reads only its own extent of the weights and of the KV cache.
 *
 * Balance: every stage gets floor(L/p) layers and the L mod p left over go one each to the stages just
 * before the last (vLLM's `get_pp_indices` does the same), because the last stage already carries the LM
 * head, the largest single matrix of a small model.
 */
import type { ModelPart } from '../checkpoint/weights.ts';
import { DhwError } from '../../util/errors.ts';

export function splitLayers(numLayers: number, numStages: number): ModelPart[] {
  if (!Number.isInteger(numStages) || numStages < 1) {
    throw new DhwError(`--pipeline-parallel-size must be a positive integer, got ${numStages}`);
  }
  if (numStages > numLayers) {
    throw new DhwError(
      `--pipeline-parallel-size ${numStages} is larger than the model's ${numLayers} layers: ` +
        `use at most ${numLayers} stages (each stage needs at least one layer)`,
    );
  }
  const sizes = new Array<number>(numStages).fill(Math.floor(numLayers / numStages));
  const extra = numLayers % numStages;
  // extra <= numStages - 1, so the indices run from numStages - 2 down to 0 at most.
  for (let i = 0; i < extra; i++) sizes[numStages - 2 - i]! += 1;
  const parts: ModelPart[] = [];
  let start = 0;
  for (let i = 0; i < numStages; i++) {
    const end = start + sizes[i]!;
    parts.push({ start, end, embed: i === 0, head: i === numStages - 1 });
    start = end;
  }
  return parts;
}

/** "stage 0: layers 0-2 + embedding | stage 1: layers 3-5 + head", for logs. */
export function describeSplit(parts: readonly ModelPart[]): string {
  return parts
    .map((p, i) => {
      const ends = [p.embed ? 'embedding' : '', p.head ? 'norm + LM head' : ''].filter(Boolean);
      return `stage ${i}: layers ${p.start}-${p.end - 1}${ends.length ? ` + ${ends.join(' + ')}` : ''}`;
    })
    .join(' | ');
}
