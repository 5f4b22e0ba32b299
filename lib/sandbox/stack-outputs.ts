/**
 * The environment stack's outputs in a simulated world (what `lib/environment-stack.ts`
 * outputs and the CLI reads through DescribeStacks), and the ARNs of what the world does not
 * model as a resource: the deploy state machine and the maintenance bypass secret.
 */
import type { World } from '../simulation/world';
import { SIMULATED_ACCOUNT, SIMULATED_REGION } from '../simulation/world';
import { parameterRoot, stackName } from '../names';

/** The ARN of `herd-<env>-deploy`, the environment's deploy state machine. */
export function deployStateMachineArn(env: string): string {
  return `arn:aws:states:${SIMULATED_REGION}:${SIMULATED_ACCOUNT}:stateMachine:herd-${env}-deploy`;
}

/** The ARN of the environment's maintenance bypass secret. */
export function maintenanceBypassSecretArn(app: string, env: string): string {
  return `arn:aws:secretsmanager:${SIMULATED_REGION}:${SIMULATED_ACCOUNT}:secret:herd/${app}/${env}/maintenance-bypass-AbCdEf`;
}

/** The ARNs of what the world does not model as a resource. */
export interface StackArns {
  readonly stateMachineArn: string;
  readonly bypassSecretArn: string;
  /** The migration runner's role (`herd run` passes it); default `herd-<env>-runner`. */
  readonly runnerRoleArn?: string;
}

/** The outputs of the world's environment stack. */
export function stackOutputs(world: World, arns: StackArns): Record<string, string> {
  const e = world.env;
  const dns = `herd-${e.env}-123.${SIMULATED_REGION}.elb.amazonaws.com`;
  return {
    Url: `http://${dns}`,
    LoadBalancerDnsName: dns,
    ListenerArn: e.loadBalancer.listenerArn,
    TargetGroupArn: e.loadBalancer.targetGroupArn,
    MaintenancePriority: String(e.loadBalancer.maintenancePriority),
    WebAutoScalingGroup: e.fleets.web.autoScalingGroupName,
    WorkerAutoScalingGroup: e.fleets.worker?.autoScalingGroupName ?? '',
    WebLaunchTemplateId: e.fleets.web.launchTemplateId,
    WorkerLaunchTemplateId: e.fleets.worker?.launchTemplateId ?? '',
    ArtifactsBucket: e.artifacts.bucket,
    NotificationTopic: e.notificationTopicArn,
    ParameterRoot: parameterRoot(e.app, e.env),
    DatabaseSecretArn: `arn:aws:secretsmanager:${SIMULATED_REGION}:${SIMULATED_ACCOUNT}:secret:db-AbCdEf`,
    DeployStateMachineArn: arns.stateMachineArn,
    DeployTableName: e.tableName,
    RollbackAlarms: e.alarmNames.join(','),
    MaintenanceBypassSecretArn: arns.bypassSecretArn,
    RunnerInstanceProfileArn: e.instances.runnerInstanceProfileArn,
    RunnerRoleArn: arns.runnerRoleArn ?? `arn:aws:iam::${SIMULATED_ACCOUNT}:role/herd-${e.env}-runner`,
    RunnerSubnetIds: e.instances.subnetIds.join(','),
  };
}

/** Sets the world's environment stack as CloudFormation describes it, with its outputs. */
export function publishStackOutputs(world: World, arns: StackArns): void {
  const name = world.env.stackName ?? stackName(world.env.env);
  const stack = world.cloud.stacks.get(name);
  world.cloud.stacks.set(name, { status: stack?.status ?? 'UPDATE_COMPLETE', outputs: stackOutputs(world, arns) });
}
