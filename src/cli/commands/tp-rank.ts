/**
 * `dhw tp-rank`: one non-zero rank of a tensor-parallel worker over TCP. Start one per rank (on any host
 * that can reach its ring neighbours), then the worker itself (rank 0) with the same `--tp-peers`:
 *
 *   node1$ dhw tp-rank --model DIR --tp-rank 1 --tp-peers 10.0.0.1:7100,10.0.0.2:7100
 *   node0$ dhw worker  --model DIR --tensor-parallel-size 2 --tp-peers 10.0.0.1:7100,10.0.0.2:7100
 *
 * The rank does not register anywhere: the worker group is one instance, rank 0's. It exits 0 when rank 0
 * stops the group, 1 when a link breaks or a peer stops answering (with the reason).
 */
import { runTcpRank } from '../../model/index.ts';
import { getLogger } from '../../util/logger.ts';
import { LOGGING_FLAGS, MODEL_FLAGS, numberFlag, stringFlag, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { beginCommand } from '../command-prologue.ts';
import { modelDirFromFlags } from '../engine-setup.ts';
import { tpOptionsFromFlags } from '../tp-flags.ts';

const FLAGS = {
  ...MODEL_FLAGS,
  'tp-rank': { type: 'string', help: "this process's rank, 1..N-1 (rank 0 is the worker)" },
  'tp-peers': { type: 'string', help: 'HOST:PORT of every rank, rank 0 first (the same list on every rank)' },
  'tp-host': { type: 'string', help: "address to bind (default: this rank's --tp-peers host)" },
  'tp-timeout': { type: 'string', help: 'seconds a peer may keep this rank waiting (default 30)' },
  threads: { type: 'string', help: "threads computing this rank's matmuls (default: the core count)" },
  'weight-dtype': { type: 'string', default: 'f32', help: 'f32 | q8_0 (the same on every rank)' },
  ...LOGGING_FLAGS,
} as const;

const USAGE = 'dhw tp-rank --model DIR --tp-rank R --tp-peers H0:P0,H1:P1,... [--threads T]';
const DESCRIPTION =
  'Serve one rank (R ≥ 1) of a tensor-parallel worker group over TCP (ring all-reduce). Rank 0 is\n' +
  '`dhw worker|serve|generate --tensor-parallel-size N --tp-transport tcp --tp-peers ...`.';

export const tpRankCommand: Command = {
  name: 'tp-rank',
  summary: 'one rank (≥ 1) of a tensor-parallel worker group over TCP',
  async run(argv) {
    const parsed = beginCommand(argv, { usage: USAGE, description: DESCRIPTION, flags: FLAGS });
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    const log = getLogger('tp-rank');
    const dir = modelDirFromFlags(values, positionals[0]);
    const rank = numberFlag(values, 'tp-rank', { integer: true, min: 1 });
    if (rank === undefined) throw new UsageError('--tp-rank is required (1..N-1)');
    if (stringFlag(values, 'tp-peers') === undefined) throw new UsageError('--tp-peers is required');
    const tp = tpOptionsFromFlags({ ...values, 'tp-transport': 'tcp' });
    const dtype = stringFlag(values, 'weight-dtype');
    if (dtype !== 'f32' && dtype !== 'q8_0')
      throw new UsageError(`--weight-dtype must be f32 or q8_0, got ${dtype}`);
    const result = await runTcpRank({
      dir,
      rank,
      peers: tp.tpPeers!,
      bindHost: tp.tpBindHost,
      timeoutMs: tp.tpTimeoutMs,
      kernelOptions: {
        threads: numberFlag(values, 'threads', { integer: true, min: 1 }),
        weightDtype: dtype,
      },
      onReady: () => log.info('tensor-parallel rank ready', { rank, peers: stringFlag(values, 'tp-peers') }),
    });
    log.info('tensor-parallel rank stopped by rank 0', { rank, steps: result.steps });
    return 0;
  },
};
