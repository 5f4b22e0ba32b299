/** Starts the deploy step (deploy, rollback, bake) and follows it. */
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { newDeployId } from '../../lambda/deploy/advance';
import { lockedMessage, readLock } from '../../lambda/deploy/lock';
import type { DeployInput } from '../../lambda/deploy/state';
import type { DeployStrategy, MigrationOrder } from '../config/types';
import type { CliDeps } from './deps';
import type { EnvironmentHandle } from './environment';
import { CliError, EXIT } from './errors';
import { followHint, watchDeploy } from './watch';

export interface StartRequest {
  readonly release: string;
  readonly strategy?: DeployStrategy;
  readonly migrationOrder?: MigrationOrder;
  /** `bake`: lock → bake → record only; no server changes. */
  readonly mode?: 'deploy' | 'bake';
  readonly detach?: boolean;
}

/** `--migrate` values and the `migrationOrder` they mean. */
export const MIGRATE_CHOICES = ['before', 'after', 'none'] as const;

/** Refuses at once (usage error, nothing changed) when a deploy holds the environment's lock. */
export async function refuseWhenLocked(handle: EnvironmentHandle): Promise<void> {
  const holder = await readLock(handle.clients, handle.outputs.deployTableName);
  if (holder) throw new CliError(lockedMessage(handle.name, holder), EXIT.usage);
}

/** Starts the state machine; follows it unless `detach`. Resolves with the exit code. */
export async function startDeploy(deps: CliDeps, handle: EnvironmentHandle, request: StartRequest): Promise<number> {
  await refuseWhenLocked(handle);
  const deployId = newDeployId(deps.now());
  const strategy = request.strategy ?? handle.config.deploy.strategy;
  const input: DeployInput & { mode?: 'bake' } = {
    release: request.release,
    actor: deps.actor(),
    deployId,
    ...(request.strategy ? { strategy: request.strategy } : {}),
    ...(request.migrationOrder ? { migrationOrder: request.migrationOrder } : {}),
    ...(request.mode === 'bake' ? { mode: 'bake' as const } : {}),
  };
  const startedAt = deps.now();
  await handle.clients.sfn.send(
    new StartExecutionCommand({ stateMachineArn: handle.outputs.deployStateMachineArn, name: deployId, input: JSON.stringify(input) }),
  );
  const what = request.mode === 'bake' ? `bake of release ${request.release}` : `release ${request.release} (${strategy}${request.migrationOrder ? `, migrations ${request.migrationOrder}` : ''})`;
  deps.out.write(`deploy ${deployId} started on ${handle.name}: ${what}, by ${input.actor}\n`);
  if (request.detach) {
    deps.out.write(`detached: ${followHint(handle.name, deployId)}\n`);
    return EXIT.detached;
  }
  return watchDeploy(deps, handle, { deployId, startedAt, release: request.release, strategy, mode: request.mode ?? 'deploy' });
}
