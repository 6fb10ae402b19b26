/**
 * Flags of disaggregated serving (docs/design-notes.md#disaggregation), shared by `dhw worker` and
 * `dhw serve` so both spell and check them the same way:
 *
 *   --role prefill|decode|aggregated     what the worker does (dhw worker only; serve derives it)
 *   --kv-transfer auto|tcp|unix|shm|none the transfer agent's transports (auto: tcp+unix unless aggregated; shm adds shared memory)
 *   --kv-hold-timeout MS                 prefill: how long finished prompts' blocks wait for their pull
 *   --kv-pull-timeout MS                 decode: a pull slower than this fails; the prompt is prefilled here
 *   --kv-link BANDWIDTH[,LATENCY]        mocker: the simulated link a pull is charged on
 */

import { parseLinkSpec } from '../util/link-spec.ts';
import type { KvTransferMode, WorkerKvTransferOptions, WorkerRole } from '../worker/index.ts';
import { WORKER_DEFAULTS, WORKER_ROLES } from '../worker/index.ts';
import { type FlagSpecs, numberFlag, type ParsedCommand, stringFlag, UsageError } from './args.ts';

/** What a CLI user may pick (`memory` is for workers sharing one process: embedded `dhw serve` picks it). */
const CLI_KV_TRANSFER_MODES = ['auto', 'tcp', 'unix', 'shm', 'none'] as const;

export const ROLE_FLAG: FlagSpecs = {
  role: {
    type: 'string',
    default: WORKER_DEFAULTS.role,
    help:
      'aggregated (prefill + decode here) | prefill (computes prompts for decode workers; component ' +
      '"prefill") | decode (pulls prompts\' KV from prefill workers)',
  },
};

export const KV_TRANSFER_FLAGS: FlagSpecs = {
  'kv-transfer': {
    type: 'string',
    default: 'auto',
    help:
      'auto | tcp | unix | shm | none: transfer-agent transports (auto: tcp+unix for prefill/decode, same-host ' +
      'peers preferring unix; shm: tcp+unix+shared memory, staged as prompts finish; none for aggregated)',
  },
  'kv-hold-timeout': {
    type: 'string',
    default: String(WORKER_DEFAULTS.kvHoldTimeoutMs),
    help: 'prefill: ms a finished prompt keeps its KV blocks for the decode worker to pull',
  },
  'kv-pull-timeout': {
    type: 'string',
    default: String(WORKER_DEFAULTS.kvPullTimeoutMs),
    help: 'decode: ms a KV pull may take before it fails and the prompt is prefilled locally',
  },
  'kv-link': {
    type: 'string',
    help: `mocker: simulated KV link, BANDWIDTH[,LATENCY] (default ${WORKER_DEFAULTS.kvLink})`,
  },
};

export function roleFromFlags(values: ParsedCommand['values']): WorkerRole {
  const role = stringFlag(values, 'role') ?? WORKER_DEFAULTS.role;
  if (!(WORKER_ROLES as readonly string[]).includes(role))
    throw new UsageError(
      `--role must be ${WORKER_ROLES.join(', ')}, got ${JSON.stringify(role)} (aggregated: one worker does ` +
        'both phases; prefill and decode split them)',
    );
  return role as WorkerRole;
}

/** The kvTransfer worker options, checked against the role and the engine kind. */
export function kvTransferFromFlags(
  values: ParsedCommand['values'],
  role: WorkerRole,
  engineKind: string,
): WorkerKvTransferOptions {
  const mode = stringFlag(values, 'kv-transfer') ?? 'auto';
  if (!(CLI_KV_TRANSFER_MODES as readonly string[]).includes(mode))
    throw new UsageError(
      `--kv-transfer must be ${CLI_KV_TRANSFER_MODES.join(', ')}, got ${JSON.stringify(mode)} (auto picks ` +
        'tcp and unix sockets; shm adds shared memory)',
    );
  if (mode === 'none' && role === 'prefill')
    throw new UsageError(
      '--kv-transfer none cannot serve --role prefill: decode workers pull its KV through the transfer ' +
        'agent. Use --kv-transfer auto (or tcp, unix).',
    );
  const holdTimeoutMs = holdTimeoutFlag(values);
  const pullTimeoutMs = numberFlag(values, 'kv-pull-timeout', { integer: true, min: 1 });
  const linkText = stringFlag(values, 'kv-link');
  if (linkText !== undefined && engineKind !== 'mocker')
    throw new UsageError(
      `--kv-link only applies to --engine mocker (a ${engineKind} worker moves real bytes, timed for real): ` +
        'drop it, or add --engine mocker.',
    );
  let link: WorkerKvTransferOptions['link'];
  if (linkText !== undefined) {
    try {
      link = parseLinkSpec(linkText);
    } catch (err) {
      // The parser's example names replay's --link; this flag is --kv-link.
      throw new UsageError(`--kv-link: ${(err as Error).message.replace('--link ', '--kv-link ')}`);
    }
  }
  return { mode: mode as KvTransferMode, holdTimeoutMs, pullTimeoutMs, link };
}

/** Whole milliseconds ≥ 1: the engine stamps `expiresAtMs` with it, and 0 would free every hold at once. */
function holdTimeoutFlag(values: ParsedCommand['values']): number | undefined {
  try {
    return numberFlag(values, 'kv-hold-timeout', { integer: true, min: 1 });
  } catch (err) {
    throw new UsageError(
      `${(err as Error).message}: give the milliseconds a prefill worker keeps a finished prompt's KV ` +
        `blocks for its pull, e.g. --kv-hold-timeout ${WORKER_DEFAULTS.kvHoldTimeoutMs}`,
    );
  }
}
