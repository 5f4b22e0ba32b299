/** `herd watch <env> [deploy]`: follow a running deploy (the lock holder's by default). */
import type { Command } from 'commander';
import { readLock } from '../../../lambda/deploy/lock';
import type { CliDeps } from '../deps';
import { resolveEnvironment } from '../environment';
import { CliError, exitWith } from '../errors';
import { executionArnOf, readExecution } from '../execution';
import { watchDeploy } from '../watch';

export function register(program: Command, deps: CliDeps): void {
  program
    .command('watch')
    .description('follow a running deploy with live progress (the one holding the lock unless named)')
    .argument('<env>', 'environment (herd.config.ts)')
    .argument('[deploy]', 'deploy id (see herd history)')
    .addHelpText('after', ['', 'Examples:', '  $ herd watch production', '  $ herd watch staging 20261105T100000Z-a1b2c3'].join('\n'))
    .action(async (env: string, deployId: string | undefined) => {
      const handle = await resolveEnvironment(deps, env);
      let id = deployId;
      if (!id) {
        const lock = await readLock(handle.clients, handle.outputs.deployTableName);
        if (!lock) throw new CliError(`no deploy is running on ${env}; see past ones with \`herd history ${env}\``);
        id = lock.deployId;
      }
      const executionArn = executionArnOf(handle.outputs.deployStateMachineArn, id);
      let view;
      try {
        view = await readExecution(handle.clients, executionArn);
      } catch (err) {
        if (err instanceof Error && err.name === 'ExecutionDoesNotExist') throw new CliError(`unknown deploy ${id} on ${env}; see \`herd history ${env}\``);
        throw err;
      }
      const state = view.state;
      exitWith(
        await watchDeploy(deps, handle, {
          deployId: id,
          executionArn,
          release: state?.release ?? '(unknown)',
          strategy: state?.strategy ?? handle.config.deploy.strategy,
          mode: state?.mode === 'bake' ? 'bake' : 'deploy',
        }),
      );
    });
}
