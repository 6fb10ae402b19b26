export {
  type AllReduce,
  type AllReduceStats,
  createSharedAllReduceMemory,
  SharedMemoryAllReduce,
  TpGroupError,
} from './all-reduce.ts';
export { runTcpRank, type TcpRankOptions } from './rank-process.ts';
export { openRing, type PeerAddress, parsePeers, TcpRingAllReduce } from './tcp-ring.ts';
export { TpRankModel } from './tp-forward.ts';
export {
  DEFAULT_TP_TIMEOUT_MS,
  modelFingerprint,
  TensorParallelGroup,
  type TpGroupOptions,
  type TpTransport,
} from './tp-group.ts';
export {
  checkTensorParallelSize,
  legalTensorParallelSizes,
  type RankShard,
  rankShard,
  tpSizeProblem,
} from './tp-plan.ts';
export { shardConfig, shardWeights } from './shard-weights.ts';
