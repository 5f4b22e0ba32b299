/** `herd abort <env>`: stop the running deploy and compensate it, with progress. */
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { Command } from 'commander';
import { readLock, updateLock } from '../../../lambda/deploy/lock';
import type { CliDeps } from '../deps';
import { resolveEnvironment } from '../environment';
import { CliError, exitWith } from '../errors';
import { auditAction } from '../audit';
import { readDeployExecution } from '../execution';
import { followUnlessDetached } from '../watch';

/** The error a `herd abort` stops an execution with (the reaper's resume then compensates it). */
export const ABORT_ERROR = 'herd.Aborted';

export function register(program: Command, deps: CliDeps): void {
  program
    .command('abort')
    .description('stop the running deploy and put the previous release back (its compensation, with progress)')
    .argument('<env>', 'environment (herd.config.ts)')
    .option('--detach', 'return once the deploy is stopped; the compensation runs on (exit 3)')
    .addHelpText('after', ['', 'Example:', '  $ herd abort production'].join('\n'))
    .action(async (env: string, opts: { detach?: boolean }) => {
      const handle = await resolveEnvironment(deps, env);
      const table = handle.outputs.deployTableName;
      const lock = await readLock(handle.clients, table);
      if (!lock) throw new CliError(`no deploy is running on ${env}; nothing to abort`);
      const id = lock.deployId;
      if (lock.needsAttention) {
        throw new CliError(`deploy ${id} already ended and needs attention: ${lock.needsAttention}`);
      }
      const current = await readDeployExecution(handle.clients, handle.outputs.deployStateMachineArn, id, lock.execution);
      if (!current || current.view.status !== 'RUNNING') {
        throw new CliError(
          `deploy ${id} holds the lock of ${env} but its execution is ${current ? current.view.status : 'unknown to Step Functions'}; nothing to abort: ` +
            `see \`herd status ${env}\`; if nothing runs, \`herd unlock ${env} --deploy ${id}\``,
        );
      }
      const state = current.view.state;
      if (state?.compensation) {
        throw new CliError(`deploy ${id} already failed and is compensating; nothing to abort: follow it with \`herd watch ${env}\``);
      }
      if (state && state.plan[state.stageIndex] === 'record') {
        throw new CliError(`release ${state.release} already serves on ${env}: deploy ${id} is only recording it; nothing to abort (roll back with \`herd rollback ${env}\`)`);
      }
      const actor = await deps.actor(handle.clients);
      // Written first: the reaper reads who aborted when it resumes the stopped execution.
      if (!(await updateLock(handle.clients, table, id, { abortedBy: actor }))) {
        throw new CliError(`deploy ${id} ended while aborting it; nothing was stopped: see \`herd status ${env}\``);
      }
      await handle.clients.sfn.send(new StopExecutionCommand({ executionArn: current.executionArn, error: ABORT_ERROR, cause: `aborted by ${actor}` }));
      deps.out.write(`deploy ${id} stopped by ${actor}; it is being compensated (the previous release comes back)\n`);
      await auditAction(deps, handle, 'abort', actor, `stopped deploy ${id} (release ${lock.release}) at ${state?.step ?? 'an unknown step'}`);
      exitWith(
        await followUnlessDetached(deps, handle, {
          deployId: id,
          startedAt: deps.now(),
          release: state?.release ?? lock.release,
          strategy: state?.strategy ?? handle.config.deploy.strategy,
          mode: state?.mode === 'bake' ? 'bake' : 'deploy',
          execution: current.executionArn.split(':').pop() ?? id,
          expect: 'aborted',
        }, opts.detach),
      );
    });
}
