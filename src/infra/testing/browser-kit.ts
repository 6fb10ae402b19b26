/**
 * A headless Chromium for browser tests (the dashboard): the system's `chromium` (Debian), installed with
 * apt-get when missing and we are root, as the test setup does for etcd and NATS. Driven through
 * `playwright-core`, which brings no browser of its own. `browserSkipReason()` says why a test must skip
 * (no browser and no way to install one), so the test prints the reason instead of failing.
 */
import { type Browser, chromium } from 'playwright-core';
import { ensureExecutable } from '../server-binary.ts';

export const CHROMIUM_INSTALL_HINT = 'sudo apt-get install -y chromium';

let executable: Promise<string> | undefined;

/** The Chromium executable, installing it once if needed; throws an InfraError naming the install command. */
export function chromiumExecutable(): Promise<string> {
  executable ??= ensureExecutable(
    ['chromium', 'chromium-browser', 'google-chrome'],
    ['chromium'],
    CHROMIUM_INSTALL_HINT,
  );
  return executable;
}

/** Undefined when a browser is available (or was just installed), else why browser tests must skip. */
export async function browserSkipReason(): Promise<string | undefined> {
  try {
    await chromiumExecutable();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

export async function launchChromium(): Promise<Browser> {
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({
    executablePath: await chromiumExecutable(),
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}
