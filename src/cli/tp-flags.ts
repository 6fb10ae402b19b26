/**
 * Tensor-parallel flags (TP_FLAGS in args.ts, part of ENGINE_FLAGS: `dhw serve`, `worker`, `generate`,
 * `chat`) → engine options: how many ranks, how they talk, where the TCP ranks are.
 */
import type { EngineOptions } from '../engine/llm-engine.ts';
import { parsePeers } from '../model/index.ts';
import { numberFlag, type ParsedCommand, stringFlag, UsageError } from './args.ts';

export function tpOptionsFromFlags(values: ParsedCommand['values']): Partial<EngineOptions> {
  const size = numberFlag(values, 'tensor-parallel-size', { integer: true, min: 1 });
  const transport = stringFlag(values, 'tp-transport');
  if (transport !== undefined && transport !== 'threads' && transport !== 'tcp')
    throw new UsageError(`--tp-transport must be threads or tcp, got ${transport}`);
  const peersSpec = stringFlag(values, 'tp-peers');
  let tpPeers: EngineOptions['tpPeers'];
  if (peersSpec !== undefined) {
    try {
      tpPeers = parsePeers(peersSpec);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (transport === 'threads') throw new UsageError('--tp-peers goes with --tp-transport tcp');
    if (size !== undefined && tpPeers.length !== size)
      throw new UsageError(`--tp-peers lists ${tpPeers.length} ranks but --tensor-parallel-size is ${size}`);
  }
  const timeout = numberFlag(values, 'tp-timeout', { min: 0.1 });
  const out: Partial<EngineOptions> = {
    tensorParallelSize: size ?? tpPeers?.length,
    tpTransport: transport ?? (tpPeers ? 'tcp' : undefined),
    tpPeers,
    tpBindHost: stringFlag(values, 'tp-host'),
    tpTimeoutMs: timeout === undefined ? undefined : timeout * 1000,
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}
