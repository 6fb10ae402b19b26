/**
 * Lab 4.4's exercise: predict what an emulated (or real) TCP link delivers and what disaggregation's KV
 * hand-off over it adds to time to first token, before the lab measures both. Like sizing a replication link:
 * the port speed is not the payload rate, and every request pays the round trip.
 *
 *   cp labs/level-4/04-interconnects/starter.ts my-link.ts
 *   npm run lab -- 4.4 --check ./my-link.ts     # published cases, then a 1 Gbit/s namespace link (as root)
 *
 * The file imports nothing, so a copy works anywhere.
 */

/** A TCP/IP link over Ethernet (or an emulation of one). */
export interface Link {
  /** What the port is sold as (or what `tc tbf rate` was set to), Gbit/s. */
  lineRateGbps: number;
  /** Largest IP packet: 1500 by default, 9000 with jumbo frames. */
  mtu: number;
  /** Bytes per packet the rate also carries besides the IP packet: 38 on a real Ethernet wire, 14 for tbf. */
  framingBytes: number;
  /** One-way latency of a small message, µs. */
  latencyUs: number;
}

/** Payload Gbit/s a single TCP stream gets at best (what iperf3 reports). */
export function tcpGoodputGbps(link: Link): number {
  // TODO 1: each packet carries MTU − 52 bytes of payload (IPv4 20 + TCP 20 + timestamps 12), and costs
  // MTU + framingBytes bytes of the line rate.
  return link.lineRateGbps;
}

/** Milliseconds for the decode worker to READ `bytes` of KV from the prefill worker over `link`. */
export function predictPullMs(bytes: number, link: Link): number {
  // TODO 2: a READ is a round trip (the request goes out, the data comes back), and the data moves at the
  // goodput, not the line rate.
  return link.latencyUs / 1000 + ((bytes * 8) / (link.lineRateGbps * 1e9)) * 1000;
}

/** Milliseconds disaggregation adds to time to first token for a prompt whose KV is `kvBytes`. */
export function ttftPenaltyMs(kvBytes: number, link: Link): number {
  // TODO 3: before the pull, the frontend sent the prompt to the prefill worker and got its answer back.
  return predictPullMs(kvBytes, link);
}
