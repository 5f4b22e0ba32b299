/**
 * What `herd doctor` runs: named checks, each answering ok, warn or fail with a detail and,
 * when not ok, the fix. Checks run in order and independently: a check whose read fails
 * fails itself (the AWS error in the operator's words, `explain`), and the next ones still run.
 */
import { explain } from '../errors';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  readonly detail: string;
  /** What to do (not ok only). */
  readonly fix?: string;
}

/** A check's answer (its name is the check's). */
export type CheckOutcome = Omit<CheckResult, 'name'>;

export interface Check<C> {
  readonly name: string;
  run(context: C): Promise<CheckOutcome>;
}

export const ok = (detail: string): CheckOutcome => ({ status: 'ok', detail });
export const warn = (detail: string, fix: string): CheckOutcome => ({ status: 'warn', detail, fix });
export const failed = (detail: string, fix: string): CheckOutcome => ({ status: 'fail', detail, fix });

/** Runs `checks` in order; a check that throws fails with the error, explained for `environment`. */
export async function runChecks<C>(checks: readonly Check<C>[], context: C, environment: string): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of checks) {
    try {
      results.push({ name: check.name, ...(await check.run(context)) });
    } catch (err) {
      const { message } = explain(err, { environment });
      results.push({ name: check.name, status: 'fail', detail: `could not be checked: ${message}`, fix: `fix what the error names, then run herd doctor ${environment} again` });
    }
  }
  return results;
}

const MARK: Record<CheckStatus, string> = { ok: '✔', warn: '!', fail: '✖' };

/** The checks for people: a mark, the name and the detail; the fix under each one not ok; a summary. */
export function renderChecks(environment: string, results: readonly CheckResult[]): string {
  const lines = results.flatMap((r) => [`${MARK[r.status]} ${r.name}: ${r.detail}`, ...(r.fix ? [`    fix: ${r.fix}`] : [])]);
  const count = (s: CheckStatus) => results.filter((r) => r.status === s).length;
  lines.push('', `${environment}: ${results.length} checks, ${count('ok')} ok, ${count('warn')} warning${count('warn') === 1 ? '' : 's'}, ${count('fail')} failed`);
  return `${lines.join('\n')}\n`;
}
