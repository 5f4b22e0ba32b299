/**
 * `herd doctor <env>`: live checks of an environment and of its account, each ✔ (ok), !
 * (warning) or ✖ (failed) with the fix under each one not ok. Reads only. Exits 1 when any
 * check fails, 0 with warnings only.
 */
import type { Command } from 'commander';
import type { CliDeps } from '../deps';
import { ACCOUNT_CHECKS } from '../doctor/account-checks';
import { renderChecks, runChecks, type CheckResult } from '../doctor/check';
import { ENVIRONMENT_CHECKS, environmentCheckContext } from '../doctor/environment-checks';
import { configuredEnvironment, resolveEnvironment } from '../environment';
import { CliError, CliExit, EXIT } from '../errors';
import { JSON_OPTION, writeJson } from '../output';
import { stackName } from '../../names';

export interface DoctorReport {
  readonly environment: string;
  /** No check failed (warnings allowed). */
  readonly ok: boolean;
  readonly checks: readonly CheckResult[];
}

export async function runDoctor(deps: CliDeps, env: string): Promise<DoctorReport> {
  const config = configuredEnvironment(deps.config(), env);
  let checks: CheckResult[];
  let deployed = true;
  try {
    const handle = await resolveEnvironment(deps, env);
    checks = await runChecks(ENVIRONMENT_CHECKS, environmentCheckContext(handle, deps.now()), env);
  } catch (err) {
    // No stack (or one without herd's outputs): nothing of the environment can be checked.
    if (!(err instanceof CliError)) throw err;
    deployed = false;
    checks = [{ name: 'stack', status: 'fail', detail: err.message, fix: `npx cdk deploy ${stackName(env)}` }];
  }
  checks.push(...(await runChecks(ACCOUNT_CHECKS, { clients: deps.clients(config.region, config.name), env, deployed }, env)));
  return { environment: env, ok: checks.every((c) => c.status !== 'fail'), checks };
}

export function register(program: Command, deps: CliDeps): void {
  program
    .command('doctor')
    .description('live checks of an environment and its account, each with its fix: stack, release, settings, launch templates, groups, targets, alarms, lock, maintenance, deploys; the Auto Scaling service-linked role, the EBS default key policy, quotas')
    .argument('<env>', 'environment (herd.config.ts)')
    .option(...JSON_OPTION)
    .addHelpText(
      'after',
      [
        '',
        'Reads only. Exit code 1 when a check fails (✖), 0 when every check passes or only warns (!).',
        '',
        'Examples:',
        '  $ herd doctor production',
        '  $ herd doctor staging --json | jq \'.checks[] | select(.status != "ok")\'',
      ].join('\n'),
    )
    .action(async (env: string, opts: { json?: boolean }) => {
      const report = await runDoctor(deps, env);
      if (opts.json) writeJson(deps.out, report);
      else deps.out.write(renderChecks(env, report.checks));
      if (!report.ok) throw new CliExit(EXIT.failed);
    });
}
