/**
 * `herd iam-policy <env> [--read-only]`: the IAM policy an operator needs to run herd on
 * `<env>` (`lib/cli/iam-policy.ts`), scoped to the environment's resources as its stack's
 * outputs name them, as JSON to attach to a role, group or permission set. `--read-only`:
 * what `status`, `history` and `plan` need.
 */
import type { Command } from 'commander';
import type { CliDeps } from '../deps';
import { RELEASES_PREFIX, resolveEnvironment } from '../environment';
import { operatorPolicy, READ_ONLY_VERBS } from '../iam-policy';
import { writeJson } from '../output';

export function register(program: Command, deps: CliDeps): void {
  program
    .command('iam-policy')
    .description(`the IAM policy an operator needs on an environment (JSON); --read-only: for ${READ_ONLY_VERBS.join(', ')}`)
    .argument('<env>', 'environment (herd.config.ts)')
    .option('--read-only', `only what ${READ_ONLY_VERBS.join(', ')} need`, false)
    .addHelpText('after', ['', 'Example:', '  $ herd iam-policy production > herd-production-operator.json', '  $ herd iam-policy production --read-only'].join('\n'))
    .action(async (env: string, opts: { readOnly: boolean }) => {
      const handle = await resolveEnvironment(deps, env);
      const o = handle.outputs;
      const policy = operatorPolicy(
        {
          app: handle.app,
          env,
          stackName: handle.stackName,
          deployStateMachineArn: o.deployStateMachineArn,
          deployTableName: o.deployTableName,
          artifactsBucket: o.artifactsBucket,
          parameterRoot: o.parameterRoot,
          listenerArn: o.listenerArn,
          rollbackAlarms: o.rollbackAlarms,
          ...(o.maintenanceBypassSecretArn ? { maintenanceBypassSecretArn: o.maintenanceBypassSecretArn } : {}),
          artifactPrefix: RELEASES_PREFIX,
          launchTemplateIds: [o.webLaunchTemplateId, o.workerLaunchTemplateId].filter(Boolean),
          ...(o.runner ? { runner: { roleArn: o.runner.roleArn, subnetIds: o.runner.subnetIds } } : {}),
          ...(handle.config.ebsKmsKeyArn ? { ebsKmsKeyArn: handle.config.ebsKmsKeyArn } : {}),
        },
        opts.readOnly ? 'read-only' : 'deploy',
      );
      writeJson(deps.out, policy);
    });
}
