/** One `dhw doctor` finding: shared by the check modules and the printer. */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** Curriculum section: connectivity, registration, memory, versions, model. */
  section: string;
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do about a warn/fail. */
  fix?: string;
}
