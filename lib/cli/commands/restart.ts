/**
 * `herd restart <env> [--role web|worker] [--detach]`: rolls the serving release onto fresh
 * instances (an instance refresh to the same image and launch-template version, replacing
 * every instance; no bake, no migration; launch before terminate with the environment's
 * rolling settings), so they load the app settings anew (`herd config`). Runs in the deploy
 * step (mode `restart`): locked, verified, rolled back on failure, recorded in the history.
 */
import type { Command } from 'commander';
import { readParameter } from '../../../lambda/deploy/release';
import { RESTART_ROLES } from '../../../lambda/deploy/state';
import type { Role } from '../../config/types';
import { NO_RELEASE, parameterNames } from '../../names';
import { auditAction } from '../audit';
import type { CliDeps } from '../deps';
import { resolveEnvironment, type EnvironmentHandle } from '../environment';
import { CliError, exitWith } from '../errors';
import { refuseWhenLocked, refuseWhenNotReady, startDeploy } from '../start';

/** `--role`'s value: one role. */
export function parseRoles(value: string): Role[] {
  if (!(RESTART_ROLES as readonly string[]).includes(value)) throw new CliError(`unknown role ${JSON.stringify(value)} for --role; use one of ${RESTART_ROLES.join(', ')} (or leave it out to restart both)`);
  return [value as Role];
}

export interface RestartOptions {
  readonly roles?: readonly Role[];
  readonly detach: boolean;
  /** Start even if a rollback alarm is in ALARM (a setting that fixes a failing site); the history records it. */
  readonly ignoreAlarms?: boolean;
}

/**
 * Every refusal of a restart, before anything changes (`config set --restart` runs them before
 * its writes): the lock, nothing serving, the pre-flight checks. Resolves with the serving release.
 */
export async function checkRestart(handle: EnvironmentHandle, options: RestartOptions): Promise<string> {
  await refuseWhenLocked(handle);
  const serving = await readParameter(handle.context, parameterNames(handle.app, handle.name).currentRelease);
  if (serving === undefined || serving === NO_RELEASE) {
    throw new CliError(`nothing serves on ${handle.name} yet: there is nothing to restart (deploy a release first: herd deploy ${handle.name} <app directory>); nothing was changed`);
  }
  await refuseWhenNotReady(handle, { release: serving, ...(options.ignoreAlarms ? { ignoreAlarms: true } : {}) });
  return serving;
}

/** Restarts `roles` (default both) of `handle`'s environment onto `serving` (`checkRestart`'s answer, or checked now); resolves with the exit code. */
export async function restartEnvironment(deps: CliDeps, handle: EnvironmentHandle, options: RestartOptions, checked?: string): Promise<number> {
  const serving = checked ?? (await checkRestart(handle, options));
  const roles = options.roles ?? RESTART_ROLES;
  return startDeploy(
    deps,
    handle,
    { release: serving, mode: 'restart', ...(options.roles ? { roles: options.roles } : {}), ...(options.ignoreAlarms ? { ignoreAlarms: true } : {}), detach: options.detach },
    ({ deployId, actor }) => auditAction(deps, handle, 'restart', actor, `restart of ${roles.join(' and ')} on release ${serving} (configuration change: fresh instances load the settings), deploy ${deployId}`),
  );
}

export function register(program: Command, deps: CliDeps): void {
  program
    .command('restart')
    .description('replace every instance with a fresh one of the serving release (same image, no migration), so new settings load')
    .argument('<env>', 'environment (herd.config.ts)')
    .option('--role <role>', `restart only this role (${RESTART_ROLES.join(' or ')})`)
    .option('--detach', 'start the restart and return (herd watch follows it)')
    .option('--ignore-alarms', 'start even if a rollback alarm is in ALARM (e.g. to load a setting that fixes the site); recorded in the history')
    .addHelpText('after', ['', 'Examples:', '  $ herd restart staging', '  $ herd restart production --role worker'].join('\n'))
    .action(async (env: string, opts: { role?: string; detach?: boolean; ignoreAlarms?: boolean }) => {
      const roles = opts.role !== undefined ? parseRoles(opts.role) : undefined;
      const handle = await resolveEnvironment(deps, env);
      exitWith(await restartEnvironment(deps, handle, { ...(roles ? { roles } : {}), detach: opts.detach === true, ...(opts.ignoreAlarms ? { ignoreAlarms: true } : {}) }));
    });
}
