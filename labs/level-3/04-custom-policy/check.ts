/**
 * Lab 3.4's check: does a routing policy file meet the requirements? Loads the file the way `--router
 * ./my-policy.ts` does and runs every scenario in `requirements.ts` through the real router core, printing
 * PASS or FAIL per requirement. Like a conformance test run against a load-balancer plug-in.
 *
 *   npm run lab -- 3.4 --check [POLICY_FILE]     # default: starter.ts as shipped (5/10)
 *   npm run lab -- 3.4 --check --reference       # reference.ts (10/10)
 *
 * Exits 0 when every requirement passes, 1 when any fails, 2 when the file cannot be loaded at all
 * (the shared harness, labs/lib/exercise.ts).
 */
import { fileURLToPath } from 'node:url';
import { createRouter } from '../../../src/router/index.ts';
import { configureLogging } from '../../../src/util/logger.ts';
import { type CheckResult, checkMain, isMain, runChecks } from '../../lib/exercise.ts';
import { REQUIREMENTS } from './requirements.ts';

export const REFERENCE_POLICY = fileURLToPath(new URL('./reference.ts', import.meta.url));
export const STARTER_POLICY = fileURLToPath(new URL('./starter.ts', import.meta.url));

/** Run every requirement against the policy in `policyPath`; throws only if the file does not load. */
export async function checkPolicy(policyPath: string): Promise<CheckResult[]> {
  await createRouter({ router: policyPath, decisionLog: 'off' }); // a load error is not a FAIL line: it stops here
  return runChecks(
    REQUIREMENTS.map((requirement) => ({ title: requirement.title, run: () => requirement.run(policyPath) })),
    undefined,
  );
}

if (isMain(import.meta.url)) {
  configureLogging({ level: 'warn' });
  await checkMain(import.meta.url, checkPolicy, 'requirements');
}
