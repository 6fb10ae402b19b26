/**
 * A lease that expired while the worker was still starting. Loading a model runs on the event loop, so
 * no keepalive goes out meanwhile: when the load outlasts the lease TTL (a big model, a busy host, a short
 * `--lease-ttl`) etcd drops the lease before the worker has put a single key. That is not an outage of
 * etcd, so exiting would only make a supervisor load the model again and lose the lease the same way:
 * take a lease again and put the keys, like a DHCP client whose lease ran out while it was suspended.
 */
import { type Discovery, LeaseLostError } from '../runtime/discovery/index.ts';
import type { Logger } from '../util/logger.ts';

/**
 * Run `putKeys` (puts under the worker's lease); if it finds the lease gone, renew the lease, run
 * `beforeRetry` (keys an earlier step put under the old lease, now gone with it) and `putKeys` again, once.
 */
export async function putUnderLease(
  discovery: Discovery,
  log: Logger,
  what: string,
  putKeys: () => Promise<unknown>,
  beforeRetry: () => Promise<unknown> = async () => {},
): Promise<void> {
  try {
    await putKeys();
  } catch (err) {
    if (!(err instanceof LeaseLostError)) throw err;
    log.warn(
      `the discovery lease expired before ${what} (the event loop was blocked longer than the lease TTL, e.g. ` +
        'while loading the model); taking a new lease and putting the keys again',
      { error: err },
    );
    await discovery.renewLease();
    await beforeRetry();
    await putKeys();
  }
}
