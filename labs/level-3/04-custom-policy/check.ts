/**
 * Lab 3.4's check: does a routing policy file meet the requirements? Loads the file the way `--router
 * ./my-policy.ts` does and runs every scenario in `requirements.ts` through the real router core, printing
 * PASS or FAIL per requirement. Like a conformance test run against a load-balancer plug-in.
 *
 *   node --import tsx labs/level-3/04-custom-policy/check.ts [POLICY_FILE]
 *
 * POLICY_FILE defaults to this folder's reference-policy.ts. Exits 0 when every requirement passes, 1 when
 * any fails, 2 when the file cannot be loaded at all.
 */
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRouter } from '../../../src/router/index.ts';
import { configureLogging } from '../../../src/util/logger.ts';
import { REQUIREMENTS } from './requirements.ts';

export const REFERENCE_POLICY = join(dirname(fileURLToPath(import.meta.url)), 'reference-policy.ts');

export interface CheckResult {
  title: string;
  passed: boolean;
  detail?: string;
}

/** Run every requirement against the policy in `policyPath`; throws only if the file does not load. */
export async function checkPolicy(policyPath: string): Promise<CheckResult[]> {
  await createRouter({ router: policyPath, decisionLog: 'off' }); // a load error is not a FAIL line: it stops here
  const results: CheckResult[] = [];
  for (const requirement of REQUIREMENTS) {
    try {
      const problem = await requirement.run(policyPath);
      results.push({ title: requirement.title, passed: problem === undefined, detail: problem });
    } catch (err) {
      results.push({
        title: requirement.title,
        passed: false,
        detail: `threw ${(err as Error).name}: ${(err as Error).message}`,
      });
    }
  }
  return results;
}

/** Prints "PASS  n. title" / "FAIL  n. title — detail" lines and the tally; returns true when all passed. */
export function printResults(policyPath: string, results: CheckResult[], indent = ''): boolean {
  console.log(`${indent}Checking ${relative(process.cwd(), policyPath) || policyPath}`);
  results.forEach((r, i) => {
    console.log(
      `${indent}  ${r.passed ? 'PASS' : 'FAIL'}  ${i + 1}. ${r.title}${r.detail ? `\n${indent}        → ${r.detail}` : ''}`,
    );
  });
  const passed = results.filter((r) => r.passed).length;
  console.log(`${indent}${passed}/${results.length} requirements passed`);
  return passed === results.length;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  configureLogging({ level: 'warn' });
  const path = process.argv[2] ?? REFERENCE_POLICY;
  try {
    process.exitCode = printResults(path, await checkPolicy(path)) ? 0 : 1;
  } catch (err) {
    console.error(`cannot load ${path}: ${(err as Error).message}`);
    process.exitCode = 2;
  }
}
