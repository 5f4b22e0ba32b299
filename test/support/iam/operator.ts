/**
 * The operator as IAM sees them in a simulated world: the caller STS names, with the policy
 * `herd iam-policy <env>` (or `--read-only`) prints for the world's environment.
 */
import { RELEASES_PREFIX } from '../../../lib/cli/environment';
import { operatorPolicy, type OperatorPolicyMode } from '../../../lib/cli/iam-policy';
import { SIMULATED_ACCOUNT, SIMULATED_REGION, type World } from '../../../lib/simulation/world';
import { parameterRoot } from '../../../lib/names';
import type { Principal } from './evaluator';
import type { PolicyDocument } from './template-policies';

/** The principal names of the operator's two policies. */
export const OPERATOR_PRINCIPALS: Readonly<Record<OperatorPolicyMode, string>> = { deploy: 'operator', 'read-only': 'operator-read-only' };

/** Who the simulated operator is (STS GetCallerIdentity). */
export const OPERATOR_ARN = `arn:aws:iam::${SIMULATED_ACCOUNT}:user/alice`;

export interface OperatorOutputs {
  /** Default: `herd-<env>-deploy` in the world's account and region. */
  readonly deployStateMachineArn?: string;
  readonly maintenanceBypassSecretArn?: string;
  /** The runner role (`RunnerRoleArn`): the role of the world's runner instance profile. */
  readonly runnerRoleArn?: string;
}

/** The operator of `world` with the policy of `mode`. */
export function operatorPrincipal(world: World, mode: OperatorPolicyMode, outputs: OperatorOutputs = {}): Principal {
  const e = world.env;
  const document = operatorPolicy(
    {
      app: e.app,
      env: e.env,
      stackName: e.stackName ?? `herd-${e.env}`,
      deployStateMachineArn: outputs.deployStateMachineArn ?? `arn:aws:states:${SIMULATED_REGION}:${SIMULATED_ACCOUNT}:stateMachine:herd-${e.env}-deploy`,
      deployTableName: e.tableName,
      artifactsBucket: e.artifacts.bucket,
      parameterRoot: parameterRoot(e.app, e.env),
      listenerArn: e.loadBalancer.listenerArn,
      rollbackAlarms: e.alarmNames,
      ...(outputs.maintenanceBypassSecretArn ? { maintenanceBypassSecretArn: outputs.maintenanceBypassSecretArn } : {}),
      artifactPrefix: RELEASES_PREFIX,
      launchTemplateIds: [e.fleets.web.launchTemplateId, ...(e.fleets.worker ? [e.fleets.worker.launchTemplateId] : [])],
      runner: { roleArn: outputs.runnerRoleArn ?? `arn:aws:iam::${SIMULATED_ACCOUNT}:role/herd-${e.env}-runner`, subnetIds: e.instances.subnetIds },
      ...(e.instances.ebsKmsKeyArn ? { ebsKmsKeyArn: e.instances.ebsKmsKeyArn } : {}),
    },
    mode,
  );
  return { name: OPERATOR_PRINCIPALS[mode], arn: OPERATOR_ARN, policies: [{ name: `herd-${e.env}-operator-${mode}`, document: document as unknown as PolicyDocument }] };
}

/** Both operator principals of `world`. */
export function operatorPrincipals(world: World, outputs: OperatorOutputs = {}): Principal[] {
  return (['deploy', 'read-only'] as const).map((mode) => operatorPrincipal(world, mode, outputs));
}

/**
 * Someone changing the environment outside herd, in the console or through a scaling policy,
 * with an administrator's rights: what they do is not herd's to authorize (the generated
 * fault schedules' `scale` events call as this principal).
 */
export function consoleAdministrator(): Principal {
  return {
    name: 'administrator',
    arn: `arn:aws:iam::${SIMULATED_ACCOUNT}:role/Administrator`,
    policies: [{ name: 'AdministratorAccess', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] } as unknown as PolicyDocument }],
  };
}
