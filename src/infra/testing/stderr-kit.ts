/**
 * Test helper: capture what this process writes to stderr until a line containing `marker` appears (or
 * `timeoutMs` passes) after `during` ran; returns that write (`report`) and all of them. E.g. the infra's "[infra] nats-server ... exited" report of a server that died.
 */
export async function captureStderrUntil(
  marker: string,
  during: () => Promise<void>,
  timeoutMs = 10_000,
): Promise<{ report: string | undefined; written: string[] }> {
  const written: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    await during();
    const deadline = Date.now() + timeoutMs;
    while (!written.some((w) => w.includes(marker)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    process.stderr.write = write;
  }
  return { report: written.find((w) => w.includes(marker)), written };
}
