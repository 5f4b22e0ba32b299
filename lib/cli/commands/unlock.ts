/** `herd unlock <env> --deploy <id>`: break a stale lock (only that deploy's, only if it no longer runs). */
import type { Command } from 'commander';
import { LockNotHeldError } from '../../../lambda/deploy/errors';
import { breakLock, readLock } from '../../../lambda/deploy/lock';
import type { CliDeps } from '../deps';
import { resolveEnvironment } from '../environment';
import { CliError } from '../errors';
import { executionArnOf, readExecution } from '../execution';

export function register(program: Command, deps: CliDeps): void {
  program
    .command('unlock')
    .description('break the lock of a deploy that is no longer running (the lock message names the command)')
    .argument('<env>', 'environment (herd.config.ts)')
    .requiredOption('--deploy <id>', 'the deploy holding the lock (as the refusal message names it)')
    .addHelpText('after', ['', 'Example:', '  $ herd unlock production --deploy 20261105T100000Z-a1b2c3'].join('\n'))
    .action(async (env: string, opts: { deploy: string }) => {
      const handle = await resolveEnvironment(deps, env);
      const holder = await readLock(handle.clients, handle.outputs.deployTableName);
      if (holder && holder.deployId === opts.deploy) {
        let status: string | undefined;
        try {
          status = (await readExecution(handle.clients, executionArnOf(handle.outputs.deployStateMachineArn, opts.deploy))).status;
        } catch (err) {
          if (!(err instanceof Error && err.name === 'ExecutionDoesNotExist')) throw err;
        }
        if (status === 'RUNNING') {
          throw new CliError(`deploy ${opts.deploy} is still running on ${env}; its lock ends with it (follow it with \`herd watch ${env}\`); nothing was changed`);
        }
      }
      let broken;
      try {
        broken = await breakLock(handle.clients, handle.outputs.deployTableName, env, opts.deploy);
      } catch (err) {
        if (err instanceof LockNotHeldError) throw new CliError(err.message);
        throw err;
      }
      deps.out.write(`lock of ${env} broken: it was held by deploy ${broken.deployId} (${broken.actor}, release ${broken.release}) since ${broken.since}\n`);
    });
}
