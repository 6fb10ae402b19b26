/**
 * The faults `npm run chaos` injects, one function each, every one on its own etcd + NATS + workers so a
 * scenario never inherits another's damage. Each returns one row: what was done, under which load, what
 * the clients saw, how long recovery took, and whether the goal (issue 13) was met.
 *
 *   worker-kill   kill -9 of one of 3 workers under S concurrent greedy streams (--migration-limit 3):
 *                 0 failed, every output identical to the same request's undisturbed output
 *   etcd-outage   etcd killed for D s under steady load: every request served (<= 1 % errors, and only while
 *                 no worker is registered), every worker registered again within one TTL of etcd's return
 *   nats-outage   nats-server killed for D s: KV router overlap on a freshly cached prefix (cached_tokens on
 *                 its repeat) back within 2 s of the restart
 *   frontend      kill -9 of a `dhw frontend` under load, started again: time to serve again, workers found
 */
import { type FrontendHandle, startFrontend } from '../src/frontend/index.ts';
import { freePort } from '../src/infra/free-port.ts';
import { DEFAULT_SAMPLING, type EngineRequest } from '../src/protocols/engine.ts';
import { asRequestId } from '../src/protocols/ids.ts';
import { TcpRequestPlane } from '../src/runtime/request-plane/index.ts';
import {
  ChaosInfra,
  type ChaosWorker,
  complete,
  freshPrompt,
  type Outcome,
  sleep,
  spawnDhw,
  steadyLoad,
  Timeline,
} from './lib/chaos-kit.ts';

export interface ChaosRow {
  scenario: string;
  load: string;
  requests: number;
  failed: number;
  /** Failed while the frontend saw no registered worker (the goal allows those, up to 1 %). */
  failedWithoutWorker: number;
  recovery: string;
  goal: string;
  met: boolean;
  notes: string[];
  /** NATS outage: ms from the restart until a repeated fresh prefix found its cache (undefined: never). */
  resyncMs?: number;
}

/** Lines the in-process frontend logged that the rows count (migrations). */
export const frontendLog: string[] = [];

/**
 * `eventsOnly`: the router's overlap comes from KV events alone (`--router-predict-blocks off`); otherwise a
 * repeated prefix is found through the router's own prediction of what it just routed, whatever NATS does.
 */
async function inProcessFrontend(infra: ChaosInfra, eventsOnly = false): Promise<FrontendHandle> {
  return startFrontend({
    namespace: infra.namespace,
    host: '127.0.0.1',
    port: 0,
    discovery: { backend: 'etcd', etcdEndpoints: infra.etcd.endpoint },
    events: { backend: 'nats', natsServer: infra.nats.url },
    router: { router: 'kv', ...(eventsOnly ? { predictBlocks: false } : {}) },
    migrationLimit: 3,
  });
}

async function untilTrue(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started;
    await sleep(50);
  }
  return undefined;
}

async function withCluster<T>(
  name: string,
  workers: number,
  workerArgs: string[],
  run: (infra: ChaosInfra, live: ChaosWorker[]) => Promise<T>,
): Promise<T> {
  const infra = await ChaosInfra.start(name);
  const live: ChaosWorker[] = [];
  try {
    live.push(...(await Promise.all(Array.from({ length: workers }, () => infra.spawnWorker(workerArgs)))));
    return await run(infra, live);
  } finally {
    await Promise.all(live.map((w) => w.kill()));
    await infra.stop();
  }
}

const migrationsSince = (mark: number) => frontendLog.slice(mark).filter((l) => /migrating/.test(l)).length;

export async function workerKill(opts: {
  engine: 'mocker' | 'scratch';
  streams: number;
  maxTokens: number;
}): Promise<ChaosRow> {
  const engineArgs = opts.engine === 'mocker' ? ['--engine', 'mocker', '--speedup-ratio', '1'] : [];
  return withCluster(`wk${opts.engine}`, 3, engineArgs, async (infra, live) => {
    const frontend = await inProcessFrontend(infra);
    try {
      await untilTrue(() => frontend.models.instances().length === 3, 30_000);
      const specs = Array.from({ length: opts.streams }, (_, i) => ({
        id: `wk-${opts.engine}-${i}`,
        prompt: freshPrompt(i, 48),
        maxTokens: opts.maxTokens,
      }));
      const started = Date.now();
      const undisturbed = await Promise.all(specs.map((s) => complete(frontend.url, s)));
      const baselineMs = Date.now() - started;
      const mark = frontendLog.length;
      const victim = live[0]!;
      const run = Promise.all(specs.map((s) => complete(frontend.url, s)));
      await sleep(Math.max(50, baselineMs * 0.3));
      await victim.kill('SIGKILL');
      const disturbed = await run;
      const failed = disturbed.filter((o) => !o.ok);
      const differ = disturbed.filter((o, i) => o.ok && o.text !== undisturbed[i]!.text);
      const baselineFailed = undisturbed.filter((o) => !o.ok).length;
      return {
        scenario: `worker kill -9 (${opts.engine})`,
        load: `${opts.streams} streams x ${opts.maxTokens} tokens, 3 workers`,
        requests: disturbed.length,
        failed: failed.length,
        failedWithoutWorker: 0,
        recovery: `${migrationsSince(mark)} migrated; ${differ.length} outputs differ`,
        goal: '0 failed, outputs identical',
        met: failed.length === 0 && differ.length === 0 && baselineFailed === 0,
        notes: [
          ...failed.slice(0, 3).map((o) => `failed: ${o.error}`),
          ...(baselineFailed > 0 ? [`${baselineFailed} undisturbed requests failed`] : []),
        ],
      };
    } finally {
      await frontend.close();
    }
  });
}

export async function etcdOutage(opts: {
  downS: number;
  ttlS: number;
  concurrency: number;
}): Promise<ChaosRow> {
  const workers = 2;
  const args = ['--engine', 'mocker', '--speedup-ratio', '1', '--lease-ttl', String(opts.ttlS)];
  return withCluster('etcd', workers, args, async (infra, live) => {
    const frontend = await inProcessFrontend(infra);
    const noWorker = new Timeline(() => frontend.models.instances().length === 0);
    try {
      await untilTrue(() => frontend.models.instances().length === workers, 30_000);
      const warmMs = 2000;
      const afterReturnMs = (opts.ttlS + 2) * 1000;
      const loadEnd = Date.now() + warmMs + opts.downS * 1000 + afterReturnMs + 5000;
      const load = steadyLoad(() => frontend.url, {
        concurrency: opts.concurrency,
        stopAt: () => Date.now() > loadEnd,
        maxTokens: 16,
        promptTokens: 32,
        tag: `etcd${opts.downS}`,
      });
      await sleep(warmMs);
      await infra.etcd.restart({ kill: true, downMs: opts.downS * 1000 });
      const registeredMs = await untilTrue(
        async () => (await infra.registeredInstances()) === workers,
        afterReturnMs,
      );
      await sleep(Math.max(0, (opts.ttlS + 1) * 1000 - (registeredMs ?? 0)));
      const stillRegistered = await infra.registeredInstances();
      const outcomes = await load;
      const alive = live.filter((w) => w.child.exitCode === null).length;
      return outageRow(
        `etcd down ${opts.downS} s (TTL ${opts.ttlS} s)`,
        opts.concurrency,
        outcomes,
        noWorker,
        {
          recovery:
            registeredMs === undefined
              ? `workers NOT registered within ${afterReturnMs / 1000} s`
              : `${workers} workers registered ${(registeredMs / 1000).toFixed(1)} s after return; ` +
                `${stillRegistered}/${workers} one TTL later; ${alive}/${workers} processes alive`,
          recovered:
            registeredMs !== undefined &&
            registeredMs <= opts.ttlS * 1000 &&
            stillRegistered === workers &&
            alive === workers,
        },
      );
    } finally {
      noWorker.stop();
      await frontend.close();
    }
  });
}

function outageRow(
  scenario: string,
  concurrency: number,
  outcomes: Outcome[],
  noWorker: Timeline,
  r: { recovery: string; recovered: boolean; goal?: string; notes?: string[]; resyncMs?: number },
): ChaosRow {
  const failed = outcomes.filter((o) => !o.ok);
  const withoutWorker = failed.filter((o) => noWorker.heldDuring(o.startedAt, o.endedAt)).length;
  const withWorker = failed.length - withoutWorker;
  return {
    scenario,
    load: `${concurrency} clients, steady`,
    requests: outcomes.length,
    failed: failed.length,
    failedWithoutWorker: withoutWorker,
    recovery: r.recovery,
    goal: r.goal ?? 'errors <= 1 % and only with no worker; re-registered within 1 TTL',
    met: r.recovered && withWorker === 0 && failed.length <= outcomes.length * 0.01,
    ...(r.resyncMs === undefined ? {} : { resyncMs: r.resyncMs }),
    notes: [...(r.notes ?? []), ...failed.slice(0, 3).map((o) => `failed: ${o.error}`)],
  };
}

/**
 * Cache a fresh prefix on `worker` by calling it directly (the frontend's router learns of it only from
 * the worker's KV events), then send it again through the frontend: true if the repeat found it cached.
 */
async function prefixProbe(
  plane: TcpRequestPlane,
  url: string,
  worker: ChaosWorker,
  seed: number,
): Promise<boolean> {
  const prefix = freshPrompt(seed, 64);
  const request: EngineRequest = {
    requestId: asRequestId(`probe-${seed}-a`),
    promptTokenIds: prefix,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens: 1, stopTokenIds: [], ignoreEos: true },
  };
  try {
    for await (const _ of plane.call(worker.address, 'generate', request));
  } catch {
    return false;
  }
  await sleep(150);
  const again = await complete(url, {
    id: `probe-${seed}-b`,
    prompt: [...prefix, 11, 12, 13, 14],
    maxTokens: 1,
    stream: false,
  });
  return again.ok && again.cachedTokens >= 16;
}

export async function natsOutage(opts: { downS: number; concurrency: number }): Promise<ChaosRow> {
  const workers = 3;
  return withCluster('nats', workers, ['--engine', 'mocker', '--speedup-ratio', '1'], async (infra, live) => {
    const frontend = await inProcessFrontend(infra, true);
    const plane = new TcpRequestPlane();
    const noWorker = new Timeline(() => frontend.models.instances().length === 0);
    let seed = 1_000_000;
    try {
      await untilTrue(() => frontend.models.instances().length === workers, 30_000);
      let before = 0;
      // Each probe caches on the next worker in turn: the router cannot be right by always picking one.
      const probe = () => prefixProbe(plane, frontend.url, live[seed % workers]!, seed++);
      for (let i = 0; i < 3; i++) if (await probe()) before++;
      const windowMs = 30_000;
      const loadEnd = Date.now() + 1000 + opts.downS * 1000 + windowMs;
      const load = steadyLoad(() => frontend.url, {
        concurrency: opts.concurrency,
        stopAt: () => Date.now() > loadEnd,
        maxTokens: 16,
        promptTokens: 32,
        tag: 'nats',
      });
      await sleep(1000);
      const outage = infra.nats.restart({ kill: true, downMs: opts.downS * 1000 });
      // While NATS is down no KV event reaches the router: these hit only by luck (1 in 3 workers).
      await sleep(300);
      let during = 0;
      for (let i = 0; i < 3; i++) if (await probe()) during++;
      await outage;
      const returnedAt = Date.now();
      // Resynced: two probes in a row (on two different workers) hit; one hit may be luck.
      let resyncMs: number | undefined;
      let streak = 0;
      let firstOfStreak = 0;
      while (Date.now() - returnedAt < windowMs) {
        const probeAt = Date.now();
        if (await probe()) {
          if (streak++ === 0) firstOfStreak = probeAt;
          if (streak === 2) {
            resyncMs = firstOfStreak - returnedAt;
            break;
          }
        } else streak = 0;
      }
      const outcomes = await load;
      return outageRow(`NATS down ${opts.downS} s`, opts.concurrency, outcomes, noWorker, {
        recovery:
          `probes cached before: ${before}/3, while down: ${during}/3; after restart: ` +
          (resyncMs === undefined
            ? `no overlap within ${windowMs / 1000} s`
            : `overlap back in ${(resyncMs / 1000).toFixed(1)} s`),
        recovered: resyncMs !== undefined && resyncMs <= 2000,
        resyncMs,
        goal: 'every request served; KV overlap back within 2 s',
      });
    } finally {
      noWorker.stop();
      await plane.close();
      await frontend.close();
    }
  });
}

export async function frontendRestart(opts: { concurrency: number }): Promise<ChaosRow> {
  const workers = 2;
  return withCluster('fe', workers, ['--engine', 'mocker', '--speedup-ratio', '1'], async (infra) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const args = ['frontend', ...infra.runtimeArgs(), '--host', '127.0.0.1', '--port', String(port)];
    args.push('--router', 'kv', '--migration-limit', '3');
    const ready = /Frontend at /;
    let frontend = await spawnDhw(args, ready);
    try {
      const healthy = async () => {
        const res = await fetch(`${url}/health`).catch(() => undefined);
        if (res?.status !== 200) return false;
        return ((await res.json()) as { instances: unknown[] }).instances.length === workers;
      };
      await untilTrue(healthy, 30_000);
      let backAt = Number.POSITIVE_INFINITY;
      const loadStarted = Date.now();
      const load = steadyLoad(() => url, {
        concurrency: opts.concurrency,
        stopAt: () => Date.now() > Math.min(backAt + 3000, loadStarted + 60_000),
        maxTokens: 16,
        promptTokens: 32,
        tag: 'fe',
      });
      await sleep(2000);
      const killedAt = Date.now();
      await frontend.kill('SIGKILL');
      frontend = await spawnDhw(args, ready);
      const healthyMs = await untilTrue(healthy, 30_000);
      const backMs = healthyMs === undefined ? undefined : Date.now() - killedAt;
      backAt = killedAt + (backMs ?? 0);
      const outcomes = await load;
      const failed = outcomes.filter((o) => !o.ok);
      // Requests cut by the kill or refused while no frontend listened: expected without a load balancer.
      const outsideGap = failed.filter((o) => o.endedAt < killedAt || o.startedAt > backAt);
      const firstOkAfter = outcomes
        .filter((o) => o.ok && o.startedAt > killedAt)
        .reduce((min, o) => Math.min(min, o.endedAt), Number.POSITIVE_INFINITY);
      return {
        scenario: 'frontend kill -9 + restart',
        load: `${opts.concurrency} clients, steady`,
        requests: outcomes.length,
        failed: failed.length,
        failedWithoutWorker: 0,
        recovery:
          `${failed.length - outsideGap.length} failed while it was down, ${outsideGap.length} outside; ` +
          (backMs === undefined
            ? 'frontend not healthy within 30 s'
            : `/health 200 with ${workers} workers ${(backMs / 1000).toFixed(1)} s after the kill; ` +
              `first answer ${((firstOkAfter - killedAt) / 1000).toFixed(1)} s after`),
        goal: 'serves again with every worker; no failure outside the restart (no LB here)',
        met: backMs !== undefined && outsideGap.length === 0,
        notes: failed.slice(0, 2).map((o) => `failed: ${o.error}`),
      };
    } finally {
      await frontend.kill();
    }
  });
}
