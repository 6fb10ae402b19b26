/**
 * Decision traces: a seeded random stream of everything a live router hears (routes with and without
 * exclusions, first tokens, ends and failures, KV stored/removed events, load reports, quarantines, busy
 * workers, workers leaving and rejoining, other replicas' requests, a moving clock), played through the
 * public `Router` API, with one line per decision recording what the policy saw and chose:
 *
 *   `w3 o=12 v=9f2c01aa s=0b7e44d1 formulas=...`   chosen worker, overlap, digest of the views, of the scores
 *
 * `decision-traces.test.ts` holds these lines against a fixture recorded on an earlier commit, so a change
 * to the decision path's data structures (not to a policy) must leave every choice, view and cost
 * bit-identical. Only the public API is used, so the same file runs on old and new code alike.
 */
import { asWorkerId, type WorkerId } from '../../protocols/ids.ts';
import { Mulberry32 } from '../../util/prng.ts';
import { BUILTIN_POLICIES, type BuiltinPolicyName, createBuiltinPolicy } from '../policy-factory.ts';
import { Router } from '../router.ts';
import type { RouteDecision, RouteRequest, RoutingPolicy, WorkerView } from '../types.ts';
import { BS, loadMetrics, removedEvent, sequenceHashes, storedEvent, tokens } from './router-kit.ts';

export interface DecisionTraceSpec {
  policy: BuiltinPolicyName;
  seed: number;
  workers: number;
  steps: number;
  temperature?: number;
  /** Build the cost arithmetic (the decision log's strings) for every decision. */
  explain: boolean;
}

/** 32-bit FNV-1a of a string, as 8 hex digits: a short, stable fingerprint of a decision's numbers. */
export function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** Every number a policy reads from a view, in a fixed order (independent of how the view was built). */
function viewText(v: WorkerView): string {
  const l = v.load;
  const load = l === undefined ? '-' : `${l.activeDecodeBlocks},${l.activePrefillTokens},${l.kvUsedBlocks}`;
  return (
    `${v.workerId}:${v.blockSize},${v.totalBlocks},${load},${v.overlapBlocks},${v.predictedBlocks},` +
    `${v.sharedPrefillTokens},${v.treeBlocks},${v.inFlight.requests},${v.inFlight.prefillTokens},` +
    `${v.inFlight.blocks},${v.activePrefillTokens},${v.activeBlocks},${v.newBlocks}`
  );
}

function decisionLine(viewsText: string, decision: RouteDecision, overlap: number): string {
  const scores = decision.scores ?? [];
  const scoreText = scores.map((s) => `${s.workerId}:${s.cost}:${s.overlapBlocks ?? ''}`).join(';');
  const explained = scores.some((s) => s.formula !== undefined);
  const formulas = explained ? ` f=${fnv1a(scores.map((s) => s.formula ?? '').join('|'))}` : '';
  return (
    `${decision.workerId} o=${overlap} r=${decision.reason} v=${fnv1a(viewsText)} ` +
    `s=${fnv1a(scoreText)}${formulas}`
  );
}

/** Wraps a policy to fingerprint the views it is offered, at the moment it is offered them. */
class Fingerprinting implements RoutingPolicy {
  lastViews = '';
  readonly name: string;
  readonly onKvEvent: RoutingPolicy['onKvEvent'];
  readonly onWorkerAdded: RoutingPolicy['onWorkerAdded'];
  readonly onWorkerRemoved: RoutingPolicy['onWorkerRemoved'];
  readonly onRequestFinished: RoutingPolicy['onRequestFinished'];
  readonly onPrefillDone: RoutingPolicy['onPrefillDone'];

  constructor(readonly inner: RoutingPolicy) {
    this.name = inner.name;
    this.onKvEvent = inner.onKvEvent?.bind(inner);
    this.onWorkerAdded = inner.onWorkerAdded?.bind(inner);
    this.onWorkerRemoved = inner.onWorkerRemoved?.bind(inner);
    this.onRequestFinished = inner.onRequestFinished?.bind(inner);
    this.onPrefillDone = inner.onPrefillDone?.bind(inner);
  }

  select(request: RouteRequest, workers: readonly WorkerView[]): RouteDecision {
    this.lastViews = workers.map(viewText).join(';');
    return this.inner.select(request, workers);
  }
}

/** Play one seeded stream; returns one line per step that routed (or failed to route) a request. */
export function runDecisionTrace(spec: DecisionTraceSpec): string[] {
  const rng = new Mulberry32(spec.seed);
  let clock = 1_000_000;
  const inner = createBuiltinPolicy(spec.policy, {
    seed: spec.seed,
    temperature: spec.temperature,
    now: () => clock,
  });
  const policy = new Fingerprinting(inner);
  const router = new Router({
    policy,
    blockSize: BS,
    decisionLog: 'off',
    explainAlways: spec.explain,
    busyThreshold: 0.9,
    now: () => clock,
    predictionGraceMs: 300,
  });
  const ids = Array.from({ length: spec.workers }, (_, i) => asWorkerId(`w${i}`));
  const join = (w: WorkerId) => router.addWorker({ workerId: w, blockSize: BS, totalBlocks: 400 });
  for (const w of ids) join(w);
  const eventIds = new Map<WorkerId, number>(ids.map((w) => [w, 1]));
  const nextEvent = (w: WorkerId) => {
    const id = eventIds.get(w) ?? 1;
    eventIds.set(w, id + 1);
    return id;
  };
  // Conversations under a few shared system prompts: prompts grow turn by turn, so prefixes recur.
  const prompts: number[][] = Array.from({ length: 6 }, (_, f) => tokens(f * 100_000, 32 + 16 * f));
  const inFlight: { id: string; workerId: WorkerId; prompt: number[] }[] = [];
  const lines: string[] = [];
  const pick = <T>(list: readonly T[]): T => list[rng.nextInt(list.length)]!;
  for (let step = 0; step < spec.steps; step++) {
    clock += rng.nextInt(40);
    const roll = rng.nextFloat();
    if (roll < 0.5 || inFlight.length === 0) {
      const base = pick(prompts);
      const prompt = [...base, ...tokens(1_000_000 + step * 1000, 1 + rng.nextInt(70))];
      if (rng.nextFloat() < 0.5) prompts.push(prompt);
      const members = router.workers.map((w) => w.workerId);
      const exclude = rng.nextFloat() < 0.15 && members.length > 1 ? [pick(members)] : undefined;
      const id = `r${step}`;
      try {
        const result = router.route({ requestId: id, tokenIds: prompt, exclude });
        lines.push(decisionLine(policy.lastViews, result.decision, result.overlapBlocks));
        inFlight.push({ id, workerId: result.workerId, prompt });
      } catch (error) {
        lines.push(`error ${(error as Error).name}`);
      }
    } else if (roll < 0.62) {
      router.markPrefillDone(pick(inFlight).id);
    } else if (roll < 0.77) {
      const done = inFlight.splice(rng.nextInt(inFlight.length), 1)[0]!;
      router.finishRequest(done.id, rng.nextFloat() < 0.15 ? 'failed' : 'done');
      if (rng.nextFloat() < 0.7)
        router.applyKvEvent(done.workerId, storedEvent(nextEvent(done.workerId), done.prompt));
    } else if (roll < 0.85) {
      const r = pick(inFlight);
      const blocks = Math.floor(r.prompt.length / BS);
      router.applyKvEvent(
        r.workerId,
        storedEvent(nextEvent(r.workerId), r.prompt, 0, rng.nextInt(blocks + 1)),
      );
    } else if (roll < 0.88) {
      const r = pick(inFlight);
      const hashes = sequenceHashes(r.prompt);
      const from = rng.nextInt(hashes.length + 1);
      router.applyKvEvent(r.workerId, removedEvent(nextEvent(r.workerId), hashes.slice(from)));
    } else if (roll < 0.95) {
      const w = pick(ids);
      router.updateLoad(
        loadMetrics(w, {
          activeDecodeBlocks: rng.nextInt(300),
          activePrefillTokens: rng.nextInt(2000),
          kvUsedBlocks: rng.nextInt(400),
          kvTotalBlocks: 400,
          gpuCacheUsagePerc: rng.nextFloat() * 0.95,
        }),
      );
    } else if (roll < 0.96) {
      router.quarantine(pick(ids));
    } else if (roll < 0.975) {
      const w = pick(ids);
      for (const orphan of router.removeWorker(w)) {
        const at = inFlight.findIndex((r) => r.id === orphan);
        if (at >= 0) inFlight.splice(at, 1);
      }
      if (rng.nextFloat() < 0.8) join(w);
    } else {
      const w = pick(ids);
      const prompt = pick(prompts);
      const requestId = `peer${step}`;
      router.applyPeerChange('replica-b', {
        kind: 'add',
        requestId: requestId as never,
        workerId: w,
        blockHashes: sequenceHashes(prompt),
        isl: prompt.length,
        overlapBlocks: rng.nextInt(2),
      });
      if (rng.nextFloat() < 0.5)
        router.applyPeerChange('replica-b', {
          kind: 'free',
          requestId: requestId as never,
          workerId: w,
          outcome: 'done',
        });
    }
    // Keep some workers in the pool whatever the stream removed.
    if (router.size === 0) join(pick(ids));
  }
  return lines;
}

/** The streams the fixture covers: every built-in policy, with and without the cost arithmetic. */
export function decisionTraceSpecs(): DecisionTraceSpec[] {
  const specs: DecisionTraceSpec[] = [];
  for (const policy of BUILTIN_POLICIES) {
    specs.push({ policy, seed: 11, workers: 5, steps: 400, explain: false });
    specs.push({ policy, seed: 23, workers: 37, steps: 250, explain: true });
  }
  specs.push({ policy: 'kv', seed: 31, workers: 9, steps: 400, temperature: 0.7, explain: true });
  return specs;
}
