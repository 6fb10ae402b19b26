/**
 * Flags of the router queue (`router/router-queue.ts`, Dynamo's names), shared by `dhw frontend`, `dhw serve`
 * and `dhw replay` so all three spell and check them the same way:
 *
 *   --router-queue-threshold F   requests wait in the router while every worker's prefill backlog is above
 *                                F × its max_num_batched_tokens (0 = any backlog); unset = off
 *   --router-queue-policy P      fcfs (arrival order, Dynamo's default) | wspt (fewest new tokens first)
 */
import { ROUTER_QUEUE_POLICIES, type RouterQueueOptions, type RouterQueuePolicy } from '../router/index.ts';
import { type FlagSpecs, numberFlag, type ParsedCommand, stringFlag, UsageError } from './args.ts';

export const ROUTER_QUEUE_FLAGS: FlagSpecs = {
  'router-queue-threshold': {
    type: 'string',
    help:
      'hold requests in the router while every worker has more than this × its max_num_batched_tokens of ' +
      'prefill in flight (0 = any), and route each when a prefill ends; unset = off (route on arrival)',
  },
  'router-queue-policy': {
    type: 'string',
    help: `order of the held requests: ${ROUTER_QUEUE_POLICIES.join(' | ')} (default fcfs; wspt = fewest new tokens first)`,
  },
};

/** The router queue the flags ask for; undefined when off. A policy without a threshold is a mistake. */
export function routerQueueFrom(values: ParsedCommand['values']): RouterQueueOptions | undefined {
  const threshold = numberFlag(values, 'router-queue-threshold', { min: 0 });
  const policy = stringFlag(values, 'router-queue-policy');
  if (policy !== undefined && !(ROUTER_QUEUE_POLICIES as readonly string[]).includes(policy)) {
    throw new UsageError(
      `--router-queue-policy takes ${ROUTER_QUEUE_POLICIES.join(' or ')}, got ${JSON.stringify(policy)}`,
    );
  }
  if (threshold === undefined) {
    if (policy !== undefined) {
      throw new UsageError(
        '--router-queue-policy orders the router queue, which is off: add --router-queue-threshold (e.g. 0)',
      );
    }
    return undefined;
  }
  return policy === undefined ? { threshold } : { threshold, policy: policy as RouterQueuePolicy };
}
