/** `herd unlock <env> --deploy <id>`: break a stale lock (only that deploy's, only if it no longer runs); recorded in the history as the caller. */
import type { Command } from 'commander';
import { LockNotHeldError } from '../../../lambda/deploy/errors';
import { breakLock, readLock } from '../../../lambda/deploy/lock';
import { auditAction } from '../audit';
import type { CliDeps } from '../deps';
import { resolveEnvironment } from '../environment';
import { CliError } from '../errors';
import { MAX_RESUMES } from '../../../lambda/deploy/reaper';
import { RESUME_WAIT_SECONDS } from '../watch';
import { EXECUTION_VISIBILITY_SECONDS, endedAbnormally, readDeployExecution } from '../execution';

export function register(program: Command, deps: CliDeps): void {
  program
    .command('unlock')
    .description('break the lock of a deploy that is no longer running (the lock message names the command)')
    .argument('<env>', 'environment (herd.config.ts)')
    .requiredOption('--deploy <id>', 'the deploy holding the lock (as the refusal message names it)')
    .addHelpText('after', ['', 'Example:', '  $ herd unlock production --deploy 20261105T100000Z-a1b2c3'].join('\n'))
    .action(async (env: string, opts: { deploy: string }) => {
      const handle = await resolveEnvironment(deps, env);
      const actor = await deps.actor(handle.clients);
      const holder = await readLock(handle.clients, handle.outputs.deployTableName);
      if (holder && holder.deployId === opts.deploy) {
        // Its own execution, or the reaper's resume of it, may still run (and will release the lock).
        const current = await readDeployExecution(handle.clients, handle.outputs.deployStateMachineArn, opts.deploy);
        if (current?.view.status === 'RUNNING') {
          throw new CliError(`deploy ${opts.deploy} is still running on ${env}; its lock ends with it (follow it with \`herd watch ${env}\`); nothing was changed`);
        }
        const young = deps.now() - (Date.parse(holder.since) || 0) < EXECUTION_VISIBILITY_SECONDS * 1000;
        if (!current && young) {
          throw new CliError(`deploy ${opts.deploy} took the lock of ${env} less than ${EXECUTION_VISIBILITY_SECONDS} s ago and Step Functions does not show its execution yet; try again in a minute; nothing was changed`);
        }
        const justDied = current && endedAbnormally(current.view) && deps.now() - (current.view.stoppedAt ?? 0) < RESUME_WAIT_SECONDS * 1000;
        if (justDied && current.died.length < MAX_RESUMES) {
          throw new CliError(
            `deploy ${opts.deploy}'s execution ended ${current.view.status} and the reaper is about to resume it to put ${env} back as it was; ` +
              `follow it with \`herd watch ${env}\`; nothing was changed`,
          );
        }
      }
      let broken;
      try {
        broken = await breakLock(handle.clients, handle.outputs.deployTableName, env, opts.deploy);
      } catch (err) {
        if (err instanceof LockNotHeldError) throw new CliError(err.message);
        throw err;
      }
      const done = `lock of ${env} broken: it was held by deploy ${broken.deployId} (${broken.actor}, release ${broken.release}) since ${broken.since}`;
      deps.out.write(`${done}\n`);
      await auditAction(deps, handle, 'unlock', actor, done);
    });
}
