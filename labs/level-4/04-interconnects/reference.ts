/**
 * Lab 4.4's reference solution (read it after trying the starter): what a TCP link really delivers, and what
 * a disaggregated KV hand-off over it costs the first token.
 *
 *   goodput      = line rate × (MTU − 52) / (MTU + framing)     52 = IP 20 + TCP 20 + timestamps 12
 *   KV pull      = 2 × latency + bytes × 8 / goodput             a READ is a request out and data back
 *   TTFT penalty = 2 × latency + KV pull                          plus the round trip to the prefill worker
 *
 *   npm run lab -- 4.4 --check --reference
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

/** IPv4 (20) + TCP (20) + the timestamp option Linux sends by default (12). */
export const TCP_IP_HEADER_BYTES = 52;

export function tcpGoodputGbps(link: Link): number {
  return (link.lineRateGbps * (link.mtu - TCP_IP_HEADER_BYTES)) / (link.mtu + link.framingBytes);
}

export function predictPullMs(bytes: number, link: Link): number {
  const serializationMs = ((bytes * 8) / (tcpGoodputGbps(link) * 1e9)) * 1000;
  return (2 * link.latencyUs) / 1000 + serializationMs;
}

export function ttftPenaltyMs(kvBytes: number, link: Link): number {
  return (2 * link.latencyUs) / 1000 + predictPullMs(kvBytes, link);
}
