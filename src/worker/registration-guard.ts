/**
 * Puts a worker's keys back when they vanish while its lease lives (an operator's `etcdctl del --prefix
 * /dynamo`, a restore from an old backup), like a service agent re-registering with Consul on an
 * anti-entropy pass. It watches each key it guards; a delete it did not ask for, while the worker is
 * registered, puts every key again (once, after a short pause that lets a burst of deletes settle). A lost
 * lease is the Worker's business (renewLease): a put that finds the lease gone just gives up here.
 */
import type { Discovery, DiscoveryWatch } from '../runtime/discovery/index.ts';
import { LeaseLostError } from '../runtime/discovery/index.ts';
import type { Logger } from '../util/logger.ts';

export interface RegistrationGuardOptions {
  discovery: Discovery;
  /** The keys to keep in place. */
  keys: string[];
  /** True while the keys should exist (registered, not stopping, lease held). */
  active: () => boolean;
  /** Put every key again. */
  restore: () => Promise<void>;
  log: Logger;
  /** Pause between the first delete seen and the restore (default 200 ms). */
  settleMs?: number;
}

export class RegistrationGuard {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly options: RegistrationGuardOptions,
    private readonly watches: DiscoveryWatch[],
  ) {}

  static async start(options: RegistrationGuardOptions): Promise<RegistrationGuard> {
    const watches: DiscoveryWatch[] = [];
    const holder: { guard?: RegistrationGuard } = {};
    try {
      for (const key of options.keys) {
        watches.push(
          await options.discovery.watch(key, (event) => {
            if (event.type === 'delete' && event.key === key) holder.guard?.noticeDelete(key);
          }),
        );
      }
    } catch (err) {
      await Promise.all(watches.map((w) => w.close()));
      throw err;
    }
    holder.guard = new RegistrationGuard(options, watches);
    return holder.guard;
  }

  private noticeDelete(key: string): void {
    if (this.closed || this.timer || !this.options.active()) return;
    this.options.log.warn('a registration key vanished while the lease is held; putting the keys back', {
      key,
    });
    this.timer = setTimeout(() => void this.restore(), this.options.settleMs ?? 200);
  }

  private async restore(): Promise<void> {
    this.timer = undefined;
    if (this.closed || !this.options.active()) return;
    try {
      await this.options.restore();
      this.options.log.info('registration keys put back');
    } catch (err) {
      if (!(err instanceof LeaseLostError))
        this.options.log.error('could not put the registration keys back', { error: err });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await Promise.all(this.watches.map((w) => w.close()));
  }
}
