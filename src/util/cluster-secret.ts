/**
 * The cluster secret: a shared key every member of one deployment holds (frontends, workers), checked by
 * a challenge-response at the start of every internal connection (request plane, KV transfer). Like
 * Kerberos-less Hadoop RPC's SASL DIGEST, or Erlang distribution's cookie handshake: the secret itself
 * never crosses the wire, only HMACs over fresh nonces, so a recorded handshake cannot be replayed.
 *
 *   dialler (client)                                  listener (server)
 *                        ◀── CHALLENGE  "DHWAUTH1" + server nonce (32)          40 bytes
 *     RESPONSE  client nonce (32) + HMAC(secret, "client" | sn | cn)  ──▶       64 bytes
 *                        ◀── PROOF      HMAC(secret, "server" | sn | cn)        32 bytes
 *
 * The listener checks RESPONSE before reading anything else (so no endpoint runs for a peer without the
 * secret); the dialler checks PROOF before sending anything (so it never hands a prompt to an impostor).
 * A wrong MAC closes the connection. Comparisons are constant-time (crypto.timingSafeEqual).
 *
 * Only the primitives live here: each plane wires them into its own socket reading.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { InvalidRequestError } from './errors.ts';

const MAGIC = Buffer.from('DHWAUTH1', 'ascii');
const NONCE_BYTES = 32;
const MAC_BYTES = 32;
/** Bytes of each handshake message, in order: what each side reads before going on. */
export const CHALLENGE_BYTES = MAGIC.length + NONCE_BYTES;
export const RESPONSE_BYTES = NONCE_BYTES + MAC_BYTES;
export const PROOF_BYTES = MAC_BYTES;
/** How long a listener waits for a RESPONSE, or a dialler for the CHALLENGE and PROOF. */
export const HANDSHAKE_TIMEOUT_MS = 5000;
/** Shortest secret accepted: 16 bytes of key (a 32-hex-digit file from `openssl rand -hex 16`). */
const MIN_SECRET_BYTES = 16;

/** A cluster secret loaded from a file; `toString()` never prints it. */
export class ClusterSecret {
  private constructor(private readonly key: Buffer) {}

  static fromBytes(key: Buffer | string): ClusterSecret {
    const bytes = Buffer.from(key);
    if (bytes.length < MIN_SECRET_BYTES) {
      throw new InvalidRequestError(
        `the cluster secret is ${bytes.length} bytes; use at least ${MIN_SECRET_BYTES} ` +
          '(e.g. `openssl rand -hex 32 > cluster.secret`)',
        'cluster-secret-file',
      );
    }
    return new ClusterSecret(bytes);
  }

  /** Read `path`; surrounding whitespace (a trailing newline) is not part of the secret. */
  static fromFile(path: string): ClusterSecret {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (cause) {
      throw new InvalidRequestError(
        `cannot read the cluster secret file ${path}: ${(cause as Error).message}`,
        'cluster-secret-file',
      );
    }
    return ClusterSecret.fromBytes(text.trim());
  }

  mac(label: 'client' | 'server', serverNonce: Buffer, clientNonce: Buffer): Buffer {
    return createHmac('sha256', this.key).update(label).update(serverNonce).update(clientNonce).digest();
  }

  toString(): string {
    return 'ClusterSecret(redacted)';
  }

  toJSON(): string {
    return this.toString();
  }
}

/** The listener's half: send `challenge`, then `verify` the dialler's RESPONSE. */
export class HandshakeListener {
  readonly challenge: Buffer;
  private readonly serverNonce = randomBytes(NONCE_BYTES);

  constructor(private readonly secret: ClusterSecret) {
    this.challenge = Buffer.concat([MAGIC, this.serverNonce]);
  }

  /** The PROOF to send when `response` shows the dialler holds the secret; null otherwise. */
  verify(response: Uint8Array): Buffer | null {
    if (response.byteLength !== RESPONSE_BYTES) return null;
    const bytes = Buffer.from(response.buffer, response.byteOffset, response.byteLength);
    const clientNonce = bytes.subarray(0, NONCE_BYTES);
    const expected = this.secret.mac('client', this.serverNonce, clientNonce);
    if (!timingSafeEqual(expected, bytes.subarray(NONCE_BYTES))) return null;
    return this.secret.mac('server', this.serverNonce, clientNonce);
  }
}

/** The dialler's half: `respond` to the CHALLENGE, then `checkProof` of the listener's answer. */
export class HandshakeDialler {
  private readonly clientNonce = randomBytes(NONCE_BYTES);
  private serverNonce: Buffer | null = null;

  constructor(private readonly secret: ClusterSecret) {}

  /** The RESPONSE to a CHALLENGE; throws when the bytes are not a challenge at all. */
  respond(challenge: Uint8Array): Buffer {
    const bytes = Buffer.from(challenge.buffer, challenge.byteOffset, challenge.byteLength);
    if (bytes.length !== CHALLENGE_BYTES || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new HandshakeError('the peer did not send a cluster-secret challenge');
    }
    this.serverNonce = Buffer.from(bytes.subarray(MAGIC.length));
    const mac = this.secret.mac('client', this.serverNonce, this.clientNonce);
    return Buffer.concat([this.clientNonce, mac]);
  }

  /** True when the listener proved it holds the same secret. */
  checkProof(proof: Uint8Array): boolean {
    if (!this.serverNonce || proof.byteLength !== PROOF_BYTES) return false;
    const expected = this.secret.mac('server', this.serverNonce, this.clientNonce);
    return timingSafeEqual(expected, Buffer.from(proof.buffer, proof.byteOffset, proof.byteLength));
  }
}

/** True when `bytes` begins like a CHALLENGE: a dialler without a secret can say what went wrong. */
export function looksLikeChallenge(bytes: Uint8Array): boolean {
  return (
    bytes.byteLength >= MAGIC.length &&
    Buffer.from(bytes.buffer, bytes.byteOffset, MAGIC.length).equals(MAGIC)
  );
}

export class HandshakeError extends Error {
  override name = 'HandshakeError';
}

/**
 * The next `n` bytes from `socket` (a handshake message), within `timeoutMs`. Leaves the socket paused with
 * any bytes past `n` pushed back, so the protocol's own reader (attached next, then `resume()`d) sees them.
 */
export function readExactly(socket: Socket, n: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const finish = (error: Error | null, value?: Buffer) => {
      clearTimeout(timer);
      socket.pause();
      socket.off('data', onData);
      socket.off('close', onClose);
      if (error) reject(error);
      else resolve(value as Buffer);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      have += chunk.length;
      if (have < n) return;
      const all = Buffer.concat(chunks);
      finish(null, all.subarray(0, n));
      // After finish(): unshifting into a flowing socket with our listener attached would re-enter it.
      if (all.length > n) socket.unshift(all.subarray(n));
    };
    const onClose = () => finish(new HandshakeError('the peer closed the connection during the handshake'));
    const timer = setTimeout(
      () => finish(new HandshakeError(`no handshake message within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.resume();
  });
}

/**
 * The dialler's half of the handshake on a connected socket: answer the listener's challenge, then check
 * its proof. Rejects when the listener does not hold the same secret (or stays silent past `timeoutMs`).
 */
export async function proveClusterSecret(
  socket: Socket,
  secret: ClusterSecret,
  timeoutMs: number,
): Promise<void> {
  const dialler = new HandshakeDialler(secret);
  const challenge = await readExactly(socket, CHALLENGE_BYTES, timeoutMs);
  socket.write(dialler.respond(challenge));
  const proof = await readExactly(socket, PROOF_BYTES, timeoutMs);
  if (!dialler.checkProof(proof)) throw new Error('the worker does not hold the same secret');
}
