/**
 * `herd repair <env>`: run the compensation of a deploy that needs attention again (its
 * compensation failed for good, or the reaper gave up on it), from the deploy's last state,
 * in a new execution; with progress.
 */
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Command } from 'commander';
import { readLock, updateLock } from '../../../lambda/deploy/lock';
import type { DeployState } from '../../../lambda/deploy/state';
import type { CliDeps } from '../deps';
import { resolveEnvironment } from '../environment';
import { CliError, exitWith } from '../errors';
import { auditAction } from '../audit';
import { endedAbnormally, readDeployExecution } from '../execution';
import { RESUME_WAIT_SECONDS, followUnlessDetached } from '../watch';

/** Name of the `n`th repair execution of a deploy. */
export function repairExecutionName(deployId: string, n: number): string {
  return `${deployId}-repair-${n}`;
}

export function register(program: Command, deps: CliDeps): void {
  program
    .command('repair')
    .description('run the compensation of a deploy that needs attention again, once its cause is fixed (with progress)')
    .argument('<env>', 'environment (herd.config.ts)')
    .option('--detach', 'return once the repair has started (exit 3)')
    .addHelpText('after', ['', 'Examples:', '  $ herd repair production', '  $ herd repair production --detach   # then: herd watch production', '', 'Run `herd status <env>` first: it shows what is half done, and why.'].join('\n'))
    .action(async (env: string, opts: { detach?: boolean }) => {
      const handle = await resolveEnvironment(deps, env);
      const table = handle.outputs.deployTableName;
      const lock = await readLock(handle.clients, table);
      if (!lock) throw new CliError(`no deploy holds the lock of ${env}; nothing to repair`);
      const id = lock.deployId;
      const current = await readDeployExecution(handle.clients, handle.outputs.deployStateMachineArn, id, lock.execution);
      if (current?.view.status === 'RUNNING') {
        throw new CliError(`deploy ${id} is still running on ${env}; nothing to repair: follow it with \`herd watch ${env}\``);
      }
      if (!lock.needsAttention && current && endedAbnormally(current.view) && deps.now() - (current.view.stoppedAt ?? 0) < RESUME_WAIT_SECONDS * 1000) {
        throw new CliError(`deploy ${id}'s execution ended ${current.view.status} moments ago and the reaper is about to resume it; nothing to repair: follow it with \`herd watch ${env}\``);
      }
      const state: DeployState | undefined = current?.view.state;
      if (!state) {
        throw new CliError(
          `no state of deploy ${id} to repair from (Step Functions ${current ? 'kept none' : 'does not know its execution'}); ` +
            `put ${env} right by hand (\`herd status ${env}\`), then \`herd unlock ${env} --deploy ${id}\``,
        );
      }
      const actor = await deps.actor(handle.clients);
      const name = repairExecutionName(id, (state.repairs ?? 0) + 1);
      const input: DeployState = { ...state, repair: { actor } };
      const started = deps.now();
      await handle.clients.sfn.send(new StartExecutionCommand({ stateMachineArn: handle.outputs.deployStateMachineArn, name, input: JSON.stringify(input) }));
      // The lock names the execution that carries the deploy now; the reason is history's.
      await updateLock(handle.clients, table, id, { execution: name, needsAttention: undefined });
      deps.out.write(`repair of deploy ${id} started on ${env} by ${actor} (execution ${name}): compensation runs again\n`);
      await auditAction(deps, handle, 'repair', actor, `ran the compensation of deploy ${id} again (execution ${name})`);
      exitWith(
        await followUnlessDetached(deps, handle, {
          deployId: id,
          startedAt: started,
          release: state.release,
          strategy: state.strategy,
          mode: state.mode === 'bake' ? 'bake' : 'deploy',
          execution: name,
          expect: 'repaired',
        }, opts.detach),
      );
    });
}
