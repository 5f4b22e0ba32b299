/** `herd watch <env> [deploy]`: follow a running deploy (the lock holder's by default). */
import type { Command } from 'commander';
import { readLock } from '../../../lambda/deploy/lock';
import type { CliDeps } from '../deps';
import { resolveEnvironment } from '../environment';
import { CliError, exitWith } from '../errors';
import { EXECUTION_VISIBILITY_SECONDS, readDeployExecution } from '../execution';
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
      // A deploy that just started may not be known to Step Functions for a few seconds.
      let startedAt = 0;
      if (!id) {
        const lock = await readLock(handle.clients, handle.outputs.deployTableName);
        if (!lock) throw new CliError(`no deploy is running on ${env}; see past ones with \`herd history ${env}\``);
        id = lock.deployId;
        startedAt = Date.parse(lock.since) || 0;
      }
      const current = await readDeployExecution(handle.clients, handle.outputs.deployStateMachineArn, id);
      if (!current && deps.now() - startedAt > EXECUTION_VISIBILITY_SECONDS * 1000) {
        throw new CliError(`unknown deploy ${id} on ${env}; see \`herd history ${env}\``);
      }
      const state = current?.view.state;
      exitWith(
        await watchDeploy(deps, handle, {
          deployId: id,
          startedAt: current?.view.startedAt ?? startedAt,
          release: state?.release ?? '(unknown)',
          strategy: state?.strategy ?? handle.config.deploy.strategy,
          mode: state?.mode ?? 'deploy',
        }),
      );
    });
}
