/**
 * A network link as `dhw` flags write it: "25gbit,10us" = 25 Gbit/s of bandwidth and 10 µs of one-way
 * latency (tc's units). The mocker and replay charge `latency + bytes / bandwidth` per KV transfer, the
 * way a network emulator charges a packet: nothing moves, only the time passes.
 *
 *   bandwidth: <number><unit>, unit one of bit kbit mbit gbit tbit (bits/s) or bps kbps mbps gbps (bytes/s)
 *   latency:   <number><unit>, unit one of ns us ms s (default 0)
 */
import { InvalidRequestError } from './errors.ts';

export interface LinkSpec {
  /** Bytes per second. */
  bytesPerSecond: number;
  /** One-way latency per transfer, ms. */
  latencyMs: number;
}

const BANDWIDTH_UNITS: Record<string, number> = {
  bit: 1 / 8,
  kbit: 1e3 / 8,
  mbit: 1e6 / 8,
  gbit: 1e9 / 8,
  tbit: 1e12 / 8,
  bps: 1,
  kbps: 1e3,
  mbps: 1e6,
  gbps: 1e9,
};
const LATENCY_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000 };

function parseQuantity(text: string, units: Record<string, number>, what: string, spec: string): number {
  const match = /^(\d+(?:\.\d+)?)([a-z]+)$/i.exec(text.trim());
  const scale = match ? units[match[2]!.toLowerCase()] : undefined;
  if (!match || scale === undefined) {
    throw new InvalidRequestError(
      `cannot read the ${what} "${text}" in link "${spec}": write a number and one of ` +
        `${Object.keys(units).join(', ')} (e.g. --link 25gbit,10us)`,
      'link',
    );
  }
  return Number(match[1]) * scale;
}

/** Parse "25gbit,10us" (latency optional). Throws InvalidRequestError naming the expected form. */
export function parseLinkSpec(spec: string): LinkSpec {
  const [bandwidth, latency, extra] = spec.split(',');
  if (bandwidth === undefined || bandwidth.trim() === '' || extra !== undefined) {
    throw new InvalidRequestError(
      `cannot read link "${spec}": write BANDWIDTH[,LATENCY], e.g. 25gbit,10us or 400gbps,2us`,
      'link',
    );
  }
  const bytesPerSecond = parseQuantity(bandwidth, BANDWIDTH_UNITS, 'bandwidth', spec);
  if (!(bytesPerSecond > 0)) throw new InvalidRequestError(`link "${spec}": bandwidth must be > 0`, 'link');
  const latencyMs = latency === undefined ? 0 : parseQuantity(latency, LATENCY_UNITS, 'latency', spec);
  return { bytesPerSecond, latencyMs };
}

/** Time to move `bytes` over the link, in ms: latency + serialization. */
export function transferMs(link: LinkSpec, bytes: number): number {
  return link.latencyMs + (bytes / link.bytesPerSecond) * 1000;
}

/** "25 Gbit/s, 10 µs" */
export function describeLink(link: LinkSpec): string {
  const gbit = (link.bytesPerSecond * 8) / 1e9;
  const lat = link.latencyMs >= 1 ? `${link.latencyMs} ms` : `${+(link.latencyMs * 1000).toFixed(3)} µs`;
  return `${+gbit.toPrecision(4)} Gbit/s, ${lat}`;
}
