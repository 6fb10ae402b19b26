/**
 * The layer-wise hand-off's worker wiring: one inbox (decode side) and one pusher (prefill side) per worker,
 * both fed by the transfer agent's notifications. Any worker with real KV tensors gets both, whatever its
 * role, like the pull path (a decode worker can serve as a prefill worker): the frontend's
 * `--kv-transfer-mode layerwise` decides per request which one a request uses.
 *
 *   agent notif "kv-dest:{id}:{...}"      ─► pusher.onDestination   (we prefill, the peer decodes)
 *   agent notif "kv-layer:{id}:{l}"       ─► inbox.layerLanded      (we decode, the peer prefills)
 *   agent notif "kv-push-failed:{id}"     ─► inbox.pushFailed
 */
import type { EngineCore } from '../engine/index.ts';
import { parsePushNotification } from '../protocols/kv-transfer.ts';
import type { TransferAgent } from '../transfer/index.ts';
import type { Logger } from '../util/logger.ts';
import { AgentKvPusher } from './agent-kv-pusher.ts';
import { KvPushInbox } from './kv-push-inbox.ts';

export interface LayerwisePush {
  inbox: KvPushInbox;
  pusher: AgentKvPusher;
  /** Layer WRITEs so far, by outcome (metrics read them at scrape time). */
  counts: { ok: number; error: number; bytes: number };
  /** Handle a notification if it belongs to the layer-wise hand-off; false for any other message. */
  onNotif(from: string, message: string): boolean;
}

export interface LayerwisePushDeps {
  engine: EngineCore;
  agent: TransferAgent;
  numLayers: number;
  /** A finished prefill waits this long for its destination before telling the decode worker it gave up. */
  destinationTimeoutMs: number;
  ensurePeer(agent: string): Promise<void>;
  log: Logger;
}

/** Build the inbox and the pusher and plug the pusher into the engine (the caller unplugs it at stop). */
export function startLayerwisePush(deps: LayerwisePushDeps): LayerwisePush {
  const counts = { ok: 0, error: 0, bytes: 0 };
  const inbox = new KvPushInbox(deps.numLayers, deps.log);
  const pusher = new AgentKvPusher({
    agent: deps.agent,
    numLayers: deps.numLayers,
    destinationTimeoutMs: deps.destinationTimeoutMs,
    log: deps.log,
    ensurePeer: deps.ensurePeer,
    onPush: (outcome, bytes) => {
      counts[outcome]++;
      counts.bytes += bytes;
    },
  });
  deps.engine.setKvPusher(pusher);
  return {
    inbox,
    pusher,
    counts,
    onNotif(from, message) {
      const parsed = parsePushNotification(message);
      if (parsed === undefined) return false;
      if (parsed.kind === 'destination') pusher.onDestination(from, parsed.requestId, parsed.destination);
      else if (parsed.kind === 'layer') inbox.layerLanded(from, parsed.requestId, parsed.layer);
      else inbox.pushFailed(from, parsed.requestId);
      return true;
    },
  };
}
