/**
 * What Lab 3.4's policy must do, as scripted scenarios run through the REAL router core (`Router`, loaded
 * with `createRouter({ router: path })` exactly as `--router ./my-policy.ts` does). Each requirement gets a
 * fresh router with four workers, drives it (route, finish, load reports, KV events, a worker leaving) and
 * returns undefined on success or a sentence saying what went wrong. Like a conformance suite for a load
 * balancer plug-in: the harness owns the pool, the plug-in only picks.
 */
import { resolve } from 'node:path';
import { asWorkerId, type WorkerId } from '../../../src/protocols/ids.ts';
import { hashToWire, type KvCacheEvent, type LoadMetrics } from '../../../src/protocols/kv-events.ts';
import { createRouter, type Router } from '../../../src/router/index.ts';
import { computeBlockHashes } from '../../../src/tokens/index.ts';

const BLOCK = 16;
const WORKERS = ['w1', 'w2', 'w3', 'w4'].map((w) => asWorkerId(w));

export interface Requirement {
  title: string;
  /** undefined = passed; otherwise what went wrong. */
  run(policyPath: string): Promise<string | undefined>;
}

let seq = 0;
/** A prompt of `blocks` full blocks, distinct per `key`; turn t of a conversation extends turn t−1. */
function prompt(key: number, blocks: number): number[] {
  return Array.from({ length: blocks * BLOCK }, (_, i) => 100 + ((key * 7919 + i * 31) % 30_000));
}

async function freshRouter(policyPath: string): Promise<Router> {
  const router = await createRouter({ router: resolve(policyPath), decisionLog: 'off', seed: 1 });
  for (const workerId of WORKERS) router.addWorker({ workerId, blockSize: BLOCK, totalBlocks: 1000 });
  return router;
}

/** Route one request and (unless `keep`) finish it at once, as a short request would. */
function send(
  router: Router,
  tokenIds: number[],
  sessionId?: string,
  keep = false,
  exclude?: WorkerId[],
): WorkerId {
  const requestId = `check-${++seq}`;
  const { workerId } = router.route({ requestId, tokenIds, sessionId, exclude });
  router.markPrefillDone(requestId);
  if (!keep) router.finishRequest(requestId);
  return workerId;
}

/** `count` requests left in flight on `target` (the others are excluded, so any policy must pick it). */
function loadUp(router: Router, target: WorkerId, count: number): void {
  const others = router.workers.map((w) => w.workerId).filter((w) => w !== target);
  for (let i = 0; i < count; i++) send(router, prompt(9000 + seq, 2), undefined, true, others);
}

function storedEvent(eventId: number, tokenIds: number[]): KvCacheEvent {
  const { local, sequence } = computeBlockHashes(tokenIds, BLOCK);
  const blocks = sequence.map((hash, i) => ({
    blockHash: hashToWire(hash),
    tokensHash: hashToWire(local[i]!),
    tokenIds: tokenIds.slice(i * BLOCK, (i + 1) * BLOCK),
  }));
  return { eventId, data: { type: 'stored', parentHash: null, blocks } };
}

function busyReport(workerId: WorkerId): LoadMetrics {
  return {
    workerId,
    activeDecodeBlocks: 100,
    activePrefillTokens: 0,
    kvUsedBlocks: 970,
    kvTotalBlocks: 1000,
    numWaiting: 0,
    numRunning: 4,
    gpuCacheUsagePerc: 0.97,
  };
}

export const REQUIREMENTS: Requirement[] = [
  {
    title: 'loads with --router: a RoutingPolicy with a name and select()',
    async run(path) {
      const router = await createRouter({ router: resolve(path), decisionLog: 'off' });
      return typeof router.policy.name === 'string' ? undefined : 'the policy has no name';
    },
  },
  {
    title: 'same session → same worker, turn after turn (6 sessions × 4 turns, interleaved)',
    async run(path) {
      const router = await freshRouter(path);
      const seen = new Map<number, WorkerId[]>();
      for (let turn = 1; turn <= 4; turn++) {
        for (let s = 0; s < 6; s++) {
          const list = seen.get(s) ?? [];
          list.push(send(router, prompt(s, turn * 2), `session-${s}`));
          seen.set(s, list);
        }
      }
      const broken = [...seen].find(([, list]) => new Set(list).size > 1);
      return broken ? `session-${broken[0]} went to ${broken[1].join(', ')}` : undefined;
    },
  },
  {
    title: 'new sessions spread out: 8 arriving together on 4 idle workers, at most 2 each',
    async run(path) {
      const router = await freshRouter(path);
      const counts = new Map<WorkerId, number>();
      for (let s = 0; s < 8; s++) {
        const w = send(router, prompt(100 + s, 2), `new-${s}`, true);
        counts.set(w, (counts.get(w) ?? 0) + 1);
      }
      const max = Math.max(...counts.values());
      return max <= 2
        ? undefined
        : `one worker got ${max}: ${[...counts].map(([w, n]) => `${w}=${n}`).join(' ')}`;
    },
  },
  {
    title: 'a small imbalance does not break affinity (pinned worker 1 in flight, others 0 → stay)',
    async run(path) {
      const router = await freshRouter(path);
      const home = send(router, prompt(200, 2), 'steady');
      loadUp(router, home, 1);
      const next = send(router, prompt(200, 4), 'steady');
      return next === home ? undefined : `moved from ${home} to ${next} over one request in flight`;
    },
  },
  {
    title: 'overloaded by requests (pinned worker 8 in flight, others 0) → the session moves',
    async run(path) {
      const router = await freshRouter(path);
      const home = send(router, prompt(300, 2), 'busy');
      loadUp(router, home, 8);
      const next = send(router, prompt(300, 4), 'busy');
      return next !== home
        ? undefined
        : `stayed on ${home} with 8 requests in flight there and none elsewhere`;
    },
  },
  {
    title: '...and then sticks to its new worker (no flapping while the old one is still overloaded)',
    async run(path) {
      const router = await freshRouter(path);
      const home = send(router, prompt(400, 2), 'mover');
      loadUp(router, home, 8);
      const moved = send(router, prompt(400, 4), 'mover');
      const after = [send(router, prompt(400, 6), 'mover'), send(router, prompt(400, 8), 'mover')];
      if (moved === home) return `never moved off ${home}`;
      return after.every((w) => w === moved)
        ? undefined
        : `moved to ${moved}, then went to ${after.join(', ')}`;
    },
  },
  {
    title: 'overloaded by KV usage (load report gpuCacheUsagePerc 0.97) → the session moves',
    async run(path) {
      const router = await freshRouter(path);
      const home = send(router, prompt(500, 2), 'kvfull');
      router.updateLoad(busyReport(home));
      const next = send(router, prompt(500, 4), 'kvfull');
      return next !== home ? undefined : `stayed on ${home}, whose KV cache is 97 % full`;
    },
  },
  {
    title: 'a worker leaves: its sessions move to a live worker and stick there',
    async run(path) {
      const router = await freshRouter(path);
      const home = send(router, prompt(600, 2), 'orphan');
      router.removeWorker(home);
      const next = [send(router, prompt(600, 4), 'orphan'), send(router, prompt(600, 6), 'orphan')];
      return next[0] === next[1] ? undefined : `after ${home} left, the session went to ${next.join(', ')}`;
    },
  },
  {
    title: 'no session id: the worker with the longest cached prefix wins (KV events)',
    async run(path) {
      const router = await freshRouter(path);
      const a = prompt(700, 6);
      const b = prompt(800, 6);
      router.applyKvEvent(asWorkerId('w3'), storedEvent(1, a));
      router.applyKvEvent(asWorkerId('w1'), storedEvent(1, b));
      const gotA = send(router, [...a, ...prompt(701, 1)]);
      const gotB = send(router, [...b, ...prompt(801, 1)]);
      return gotA === 'w3' && gotB === 'w1'
        ? undefined
        : `prefix cached on w3 went to ${gotA}, on w1 went to ${gotB}`;
    },
  },
  {
    title: 'never fails: 500 random operations (sessions, load reports, workers leaving and joining)',
    async run(path) {
      const router = await freshRouter(path);
      let rnd = 12345;
      const next = (n: number) => {
        rnd = (rnd * 1103515245 + 12345) % 2 ** 31;
        return rnd % n;
      };
      for (let i = 0; i < 500; i++) {
        const op = next(10);
        const worker = WORKERS[next(WORKERS.length)]!;
        if (op === 0 && router.workers.length > 1) router.removeWorker(worker);
        else if (op === 1) router.addWorker({ workerId: worker, blockSize: BLOCK, totalBlocks: 1000 });
        else if (op === 2 && router.hasWorker(worker))
          router.updateLoad({ ...busyReport(worker), gpuCacheUsagePerc: next(100) / 100 });
        else
          send(
            router,
            prompt(next(20), 1 + next(4)),
            next(3) === 0 ? undefined : `s${next(12)}`,
            next(2) === 0,
          );
      }
      return undefined;
    },
  },
];
