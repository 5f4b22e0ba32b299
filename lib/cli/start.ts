/** Starts the deploy step (deploy, rollback, bake) and follows it. */
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { newDeployId } from '../../lambda/deploy/advance';
import { lockedMessage, readLock } from '../../lambda/deploy/lock';
import { preflight, preflightMessage } from '../../lambda/deploy/preflight';
import type { DeployInput } from '../../lambda/deploy/state';
import type { DeployStrategy, MigrationOrder, Role } from '../config/types';
import { fit, terminalSize } from './display';
import type { CliDeps } from './deps';
import type { EnvironmentHandle } from './environment';
import { CliError, EXIT } from './errors';
import { followUnlessDetached } from './watch';

export interface StartRequest {
  readonly release: string;
  readonly strategy?: DeployStrategy;
  readonly migrationOrder?: MigrationOrder;
  /** `bake`: lock → bake → record only; no server changes. `restart`: fresh instances of the serving release (`herd restart`). */
  readonly mode?: 'deploy' | 'bake' | 'restart';
  /** `restart`: the roles to restart (default: every role). */
  readonly roles?: readonly Role[];
  /** Deploy even if the release serves already (every instance replaced). */
  readonly force?: boolean;
  /** Start even if a rollback alarm is in ALARM (the history records it). */
  readonly ignoreAlarms?: boolean;
  /** Bake a new base image even if one of the same identity exists (`herd bake --base`). */
  readonly rebuildBase?: boolean;
  readonly detach?: boolean;
}

/** `--migrate` values and the `migrationOrder` they mean. */
export const MIGRATE_CHOICES = ['before', 'after', 'none'] as const;

/** Refuses at once (usage error, nothing changed) when a deploy holds the environment's lock. */
export async function refuseWhenLocked(handle: EnvironmentHandle): Promise<void> {
  const holder = await readLock(handle.clients, handle.outputs.deployTableName);
  if (holder) throw new CliError(lockedMessage(handle.name, holder), EXIT.usage);
}

/**
 * The deploy step's pre-flight checks, run before anything is uploaded or started: a usage
 * error (exit 2, nothing changed) naming each problem and its fix. The deploy step runs
 * them again once it holds the lock.
 */
export async function refuseWhenNotReady(
  handle: EnvironmentHandle,
  request: Pick<StartRequest, 'release' | 'mode' | 'ignoreAlarms'> & { readonly uploading?: boolean },
): Promise<void> {
  const { problems } = await preflight(handle.context, {
    app: handle.app,
    release: request.release,
    // The artifact is checked unless this command is about to upload it.
    ...(request.uploading ? {} : { artifactKey: `${handle.deploy.artifacts.artifactPrefix}${request.release}.tar.gz` }),
    ...(request.mode === 'bake' ? { mode: 'bake' as const } : {}),
    ...(request.ignoreAlarms ? { ignoreAlarms: true } : {}),
  });
  if (problems.length > 0) throw new CliError(preflightMessage(handle.name, problems), EXIT.usage);
}

/** What a started deploy is, for a verb that records it (`herd promote`). */
export interface StartedDeploy {
  readonly deployId: string;
  readonly actor: string;
}

/**
 * Starts the state machine; follows it unless `detach`. Resolves with the exit code.
 * `onStarted` runs once the execution has started, before it is followed.
 */
export async function startDeploy(deps: CliDeps, handle: EnvironmentHandle, request: StartRequest, onStarted?: (started: StartedDeploy) => Promise<void>): Promise<number> {
  await refuseWhenLocked(handle);
  const deployId = newDeployId(deps.now());
  const strategy = request.strategy ?? handle.config.deploy.strategy;
  const input: DeployInput = {
    release: request.release,
    actor: await deps.actor(handle.clients),
    deployId,
    ...(request.strategy ? { strategy: request.strategy } : {}),
    ...(request.migrationOrder ? { migrationOrder: request.migrationOrder } : {}),
    ...(request.mode === 'bake' ? { mode: 'bake' as const } : {}),
    ...(request.mode === 'restart' ? { mode: 'restart' as const, ...(request.roles ? { roles: [...request.roles] } : {}) } : {}),
    ...(request.force ? { force: true } : {}),
    ...(request.ignoreAlarms ? { ignoreAlarms: true } : {}),
    ...(request.rebuildBase ? { rebuildBase: true } : {}),
  };
  const startedAt = deps.now();
  await handle.clients.sfn.send(
    new StartExecutionCommand({ stateMachineArn: handle.outputs.deployStateMachineArn, name: deployId, input: JSON.stringify(input) }),
  );
  const what = request.mode === 'bake'
    ? `bake of release ${request.release}${request.rebuildBase ? ' on a new base image' : ''}`
    : request.mode === 'restart'
      ? `restart of ${(request.roles ?? ['web', 'worker']).join(' and ')} on release ${request.release} (fresh instances, same image, no migration)`
      : `release ${request.release} (${strategy}${request.migrationOrder ? `, migrations ${request.migrationOrder}` : ''})`;
  if (deps.isTTY) {
    // A terminal: two lines that fit its width (the actor's ARN is long).
    const { columns } = terminalSize(deps);
    deps.out.write(`${fit(`deploy ${deployId} started on ${handle.name}: ${what}`, columns - 1)}\n${fit(`  by ${input.actor}`, columns - 1)}\n`);
  } else {
    deps.out.write(`deploy ${deployId} started on ${handle.name}: ${what}, by ${input.actor}\n`);
  }
  await onStarted?.({ deployId, actor: input.actor });
  return followUnlessDetached(deps, handle, { deployId, startedAt, release: request.release, strategy, mode: request.mode ?? 'deploy' }, request.detach);
}
