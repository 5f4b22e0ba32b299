/**
 * `herd run <env> [--role web|worker] [--timeout 1h] [--detach] [--during-deploy] -- <command…>`:
 * runs a one-off command (a `createsuperuser`, a data fix) once, on a fresh short-lived
 * instance of the serving release with the role's rendered environment — the migration
 * runner's machinery (`run-instance.ts`), never a production server — streams its output,
 * and always terminates the instance: at the end, on a timeout, on an error, and on Ctrl-C
 * when the operator says so (asked first; no answer possible: terminate).
 *
 * Exit code: 0 when the command exited 0; otherwise 1 (failed) with the command's own exit code
 * in the `herd:` line. herd's exit codes have fixed meanings (2 refused with nothing changed,
 * 3 detached), so passing a command's code through would make a command that exits 2 read as
 * a refusal. `--detach` (or "no" after Ctrl-C) exits 3: the run goes on.
 * Recorded in the history (verb `run`): the actor, the command, the role, the instance, the
 * exit code and how long it took.
 */
import type { Command } from 'commander';
import { newDeployId } from '../../../lambda/deploy/advance';
import { RUN_WATCHDOG_GRACE_MINUTES } from '../../../lambda/deploy/release';
import { auditAction } from '../audit';
import type { CliDeps } from '../deps';
import { resolveEnvironment, type EnvironmentHandle } from '../environment';
import { CliError, EXIT, exitWith } from '../errors';
import { deleteRunResult, launchRunInstance, readRunResult, runInstanceState, servingRelease, terminateRunInstance, type RunResult } from '../run-instance';
import { RunOutput, runLogGroup } from '../run-output';
import { refuseWhenLocked } from '../start';

export const RUN_ROLES = ['web', 'worker'] as const;
/** Longest `--timeout`: a one-off command, not a service. */
export const MAX_RUN_TIMEOUT_SECONDS = 6 * 3600;
export const DEFAULT_RUN_TIMEOUT = '1h';
/** Seconds between two reads of the output and the report. */
export const RUN_POLL_SECONDS = 2;
/**
 * Time allowed on top of `--timeout` for the instance to boot, render, report and ship its last
 * lines: longer than the instance's own watchdog, so the CLI sees the instance end first.
 */
export const RUN_BOOT_ALLOWANCE_SECONDS = (RUN_WATCHDOG_GRACE_MINUTES + 5) * 60;
/** Reads of the output after the report, waiting for the agent's last lines. */
const FINAL_READS = 6;
const FINAL_READ_SECONDS = 5;

/** `--timeout` in seconds, or a usage error naming the value. */
export function parseRunTimeout(value: string): number {
  const m = /^(\d{1,6})(s|m|h)$/.exec(value.trim());
  const seconds = m ? Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'] : NaN;
  if (!m || seconds < 60 || seconds > MAX_RUN_TIMEOUT_SECONDS) {
    throw new CliError(`--timeout "${value}" is not a duration from 1m to ${MAX_RUN_TIMEOUT_SECONDS / 3600}h: use a number with s, m or h, like 90s, 30m or 2h; nothing was changed`);
  }
  return seconds;
}

/** The command line as one string, each argument quoted for bash when it needs it. */
export function commandLine(args: readonly string[]): string {
  return args.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** How to follow and stop a run that goes on without this CLI. */
export function followHelp(handle: EnvironmentHandle, instanceId: string): string {
  const region = handle.region ? ` --region ${handle.region}` : '';
  return [
    `follow it: herd logs ${handle.name} run --instance ${instanceId} -f`,
    `       or: aws logs tail ${runLogGroup(handle)} --log-stream-names ${instanceId} --follow${region}`,
    `stop it:   aws ec2 terminate-instances --instance-ids ${instanceId}${region}`,
    '',
  ].join('\n');
}

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

export function register(program: Command, deps: CliDeps): void {
  program
    .command('run')
    .description('run a one-off command on a fresh instance of the serving release (its role\'s environment), stream its output, terminate the instance')
    .argument('<env>', 'environment (herd.config.ts)')
    .argument('[command...]', 'the command, after --')
    .option('--role <role>', `whose environment and launch template: ${RUN_ROLES.join(' or ')}`, 'web')
    .option('--timeout <duration>', `stop the command after this long (90s, 30m, 2h; at most ${MAX_RUN_TIMEOUT_SECONDS / 3600}h)`, DEFAULT_RUN_TIMEOUT)
    .option('--detach', 'launch it, print how to follow and stop it, and leave (exit 3)')
    .option('--during-deploy', 'run even while a deploy holds the environment\'s lock')
    .addHelpText('after', [
      '',
      'The command line is put in the instance\'s user data, which anyone allowed',
      'ec2:DescribeInstanceAttribute can read: pass no secret on it (the app\'s own settings',
      'and secrets are in its environment already).',
      '',
      'Examples:',
      '  $ herd run production -- python manage.py createsuperuser --noinput',
      '  $ herd run staging --role worker --timeout 2h -- python manage.py backfill_orders',
    ].join('\n'))
    .action(async (env: string, args: string[], opts: { role: string; timeout: string; detach?: boolean; duringDeploy?: boolean }) => {
      // Input first: nothing is read or changed before it is known to be valid.
      if (!(RUN_ROLES as readonly string[]).includes(opts.role)) {
        throw new CliError(`--role "${opts.role}" is not a role herd runs commands as: use ${RUN_ROLES.join(' or ')}; nothing was changed`);
      }
      const role = opts.role as (typeof RUN_ROLES)[number];
      const timeoutSeconds = parseRunTimeout(opts.timeout);
      const command = commandLine(args);
      if (args.length === 0 || command.trim() === '') {
        throw new CliError(`no command given: put it after --, e.g. herd run ${env} -- python manage.py migrate --plan; nothing was changed`);
      }
      const handle = await resolveEnvironment(deps, env);
      if (!handle.outputs.runner) {
        throw new CliError(`stack ${handle.stackName} has no runner outputs (RunnerInstanceProfileArn, RunnerRoleArn, RunnerSubnetIds); run npx cdk deploy ${handle.stackName} to bring it up to date; nothing was changed`);
      }
      if (!opts.duringDeploy) {
        try {
          await refuseWhenLocked(handle);
        } catch (err) {
          if (err instanceof CliError) throw new CliError(`${err.message}; herd run waits for deploys: run it after this one, or pass --during-deploy to run it now`, err.exitCode);
          throw err;
        }
      }
      const serving = await servingRelease(handle);
      const actor = await deps.actor(handle.clients);
      const runId = `run-${newDeployId(deps.now())}`;
      const startedAt = deps.now();
      const instanceId = await launchRunInstance(handle, { runId, role, command, timeoutSeconds, serving });
      deps.out.write(`${runId} on ${env}: instance ${instanceId} runs release ${serving.release} as ${role}, by ${actor} (timeout ${opts.timeout}):\n  $ ${command}\n`);
      const what = `\`${command}\` as ${role} on ${instanceId} (release ${serving.release}, ${runId})`;
      if (opts.detach) {
        deps.out.write(followHelp(handle, instanceId));
        await auditAction(deps, handle, 'run', actor, `started ${what}, detached`);
        exitWith(EXIT.detached);
        return;
      }
      deps.out.write(`(Ctrl-C asks whether to terminate it)\n`);
      const outcome = await follow(deps, handle, instanceId, startedAt, timeoutSeconds);
      const took = seconds(deps.now() - startedAt);
      if (outcome.kind === 'detached') {
        deps.out.write(followHelp(handle, instanceId));
        await auditAction(deps, handle, 'run', actor, `started ${what}; the operator detached after ${took}, it goes on`);
        exitWith(EXIT.detached);
        return;
      }
      if (outcome.kind === 'reported') {
        const code = outcome.result.exitCode;
        await auditAction(deps, handle, 'run', actor, `ran ${what}: exit ${code} after ${took}`);
        if (code === 0) {
          deps.out.write(`exit 0 after ${took}; instance ${instanceId} terminated\n`);
          return;
        }
        const why = code === 124 ? ` (it ran longer than --timeout ${opts.timeout} and was stopped)` : code === 125 ? ' (the instance could not set up the environment: see the output above)' : '';
        throw new CliError(`the command exited with ${code}${why} on ${instanceId} after ${took}; the instance is terminated`, EXIT.failed);
      }
      await auditAction(deps, handle, 'run', actor, `ran ${what}: ${outcome.detail} after ${took}, no exit code`);
      throw new CliError(`${outcome.detail} after ${took}; the instance is terminated`, EXIT.failed);
    });
}

type Outcome =
  | { readonly kind: 'reported'; readonly result: RunResult }
  | { readonly kind: 'detached' }
  | { readonly kind: 'ended'; readonly detail: string };

/**
 * Streams the output until the report, a timeout, an instance that ended without one, or
 * Ctrl-C; terminates the instance in every case but a detach, whatever fails.
 */
async function follow(deps: CliDeps, handle: EnvironmentHandle, instanceId: string, startedAt: number, timeoutSeconds: number): Promise<Outcome> {
  const output = new RunOutput(handle, instanceId);
  const print = (lines: readonly string[]) => {
    for (const line of lines) deps.out.write(`${line}\n`);
  };
  let interrupted = false;
  const unsubscribe = deps.onInterrupt(() => {
    interrupted = true;
  });
  let keep = false;
  try {
    const deadline = startedAt + (timeoutSeconds + RUN_BOOT_ALLOWANCE_SECONDS) * 1000;
    for (;;) {
      print(await output.next());
      let result = await readRunResult(handle, instanceId);
      if (!result) {
        const state = await runInstanceState(handle, instanceId);
        if (state !== 'pending' && state !== 'running') {
          // It may have reported and powered off between the two reads.
          result = await readRunResult(handle, instanceId);
          if (!result) return { kind: 'ended', detail: `instance ${instanceId} is ${state} and never reported (its boot log: /herd/${handle.app}/${handle.name}/boot, stream ${instanceId})` };
        }
      }
      if (result) {
        await finalLines(deps, output, result, print);
        await deleteRunResult(handle, instanceId);
        return { kind: 'reported', result };
      }
      if (deps.now() >= deadline) {
        return { kind: 'ended', detail: `no report from ${instanceId} within --timeout plus ${RUN_BOOT_ALLOWANCE_SECONDS / 60} min for its boot: timed out` };
      }
      if (interrupted) {
        interrupted = false;
        const terminate = deps.confirm ? await deps.confirm(`terminate the run on ${instanceId}?`) : true;
        if (!terminate) {
          keep = true;
          deps.out.write(`detached: ${instanceId} goes on\n`);
          return { kind: 'detached' };
        }
        return { kind: 'ended', detail: 'interrupted (Ctrl-C)' };
      }
      await deps.sleep(RUN_POLL_SECONDS * 1000);
    }
  } finally {
    unsubscribe();
    if (!keep) await terminateRunInstance(handle, instanceId);
  }
}

/**
 * After the report: the agent ships every few seconds, so the last lines may not be in
 * CloudWatch Logs yet. Reads again until every line the report counts has come; the lines
 * still missing then are printed from the report's tail, said so.
 */
async function finalLines(deps: CliDeps, output: RunOutput, result: RunResult, print: (lines: readonly string[]) => void): Promise<void> {
  for (let n = 0; n < FINAL_READS && output.seen < result.lines; n++) {
    await deps.sleep(FINAL_READ_SECONDS * 1000);
    print(await output.next());
  }
  const missing = result.lines - output.seen;
  if (missing <= 0) return;
  const tail = result.logTail.replace(/\n$/, '').split('\n').slice(-missing);
  deps.out.write(`(the last ${missing} line(s) did not reach CloudWatch Logs in time; from the instance's report:)\n`);
  print(tail);
}
