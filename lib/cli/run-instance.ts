/**
 * The EC2 side of `herd run`: the one-off instance that runs an operator's command, launched
 * by the CLI itself exactly as the deploy step launches a migration runner (the runner's
 * instance profile, the role's launch template, the serving image, shutdown behaviour
 * terminate, the `herd-boot` of the image in its `run` role), its report in Parameter Store,
 * and its end.
 *
 * Why the CLI launches it, not a Lambda or the state machine: the operator is there, waiting
 * for the output, and the CLI already holds the clients; a function in between would add a
 * deployed component, a second path to keep in step with the migration runner, and would need
 * the same `RunInstances`/`iam:PassRole` rights itself. Least privilege is kept by the
 * operator policy (`iam-policy.ts`): `ec2:RunInstances` only for instances and volumes tagged
 * `herd:environment=<env>` and `herd:role=run` at launch, from the environment's two launch
 * templates and the app's images, into its subnets; `iam:PassRole` of the runner role only;
 * `ec2:TerminateInstances` only on the environment's run instances. A CLI that dies leaves
 * nothing running for long: the instance stops the command at its timeout and powers itself
 * off (shutdown behaviour terminate), and `herd status` lists run instances still alive.
 */
import { DescribeInstancesCommand, RunInstancesCommand, TerminateInstancesCommand, type Tag } from '@aws-sdk/client-ec2';
import { DeleteParameterCommand } from '@aws-sdk/client-ssm';
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { readParameter, runCommandUserData } from '../../lambda/deploy/release';
import { base64 } from '../../lambda/deploy/step';
import { NO_RELEASE, TAGS, parameterNames } from '../names';
import type { EnvironmentHandle } from './environment';
import { CliError, EXIT, isAwsCode } from './errors';

/** `herd:role` of a `herd run` instance. */
export const RUN_ROLE = 'run';

/** What serves: the release and the image a run instance boots. */
export interface Serving {
  readonly release: string;
  readonly imageId: string;
}

/** The serving release and image; a usage error (nothing changed) when nothing serves yet. */
export async function servingRelease(handle: EnvironmentHandle): Promise<Serving> {
  const names = parameterNames(handle.app, handle.name);
  const release = (await readParameter(handle.context, names.currentRelease)) ?? NO_RELEASE;
  const imageId = (await readParameter(handle.context, names.currentImage)) ?? '';
  if (release === NO_RELEASE || !/^ami-/.test(imageId)) {
    throw new CliError(
      `nothing serves on ${handle.name} yet (current release: ${release}, current image: ${imageId || 'none'}): herd run starts the serving release; deploy one first with \`herd deploy ${handle.name} <app-dir>\`; nothing was changed`,
    );
  }
  return { release, imageId };
}

/** What to launch. */
export interface RunLaunch {
  readonly runId: string;
  readonly role: 'web' | 'worker';
  readonly command: string;
  readonly timeoutSeconds: number;
  readonly serving: Serving;
}

/** The tags of a run instance and its volume. */
export function runTags(handle: EnvironmentHandle, launch: RunLaunch): Tag[] {
  return [
    { Key: TAGS.app, Value: handle.app },
    { Key: TAGS.environment, Value: handle.name },
    { Key: TAGS.role, Value: RUN_ROLE },
    { Key: TAGS.run, Value: launch.runId },
    { Key: TAGS.release, Value: launch.serving.release },
    { Key: 'Name', Value: `herd-${handle.app}-${handle.name}-run-${launch.runId}`.slice(0, 255) },
  ];
}

/**
 * Launches the run instance: the role's launch template at the version its group uses (its
 * security group, volumes, IMDSv2 settings), the serving image, the runner's profile (which
 * alone may write `run-results/`), one subnet after another when a zone has no capacity.
 */
export async function launchRunInstance(handle: EnvironmentHandle, launch: RunLaunch): Promise<string> {
  const runner = handle.outputs.runner;
  if (!runner) throw new CliError(`stack ${handle.stackName} has no runner outputs (RunnerInstanceProfileArn, RunnerRoleArn, RunnerSubnetIds); run npx cdk deploy ${handle.stackName} to bring it up to date; nothing was changed`);
  const fleet = handle.deploy.fleets[launch.role];
  if (!fleet) throw new CliError(`environment ${handle.name} has no ${launch.role} fleet; nothing was changed`);
  // The version the role's group launches: the serving release's settings (the image is named anyway).
  const groups = await handle.clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [fleet.autoScalingGroupName] }));
  const group = groups.AutoScalingGroups?.[0];
  if (group?.LaunchTemplate?.LaunchTemplateId !== fleet.launchTemplateId) {
    throw new CliError(`Auto Scaling group ${fleet.autoScalingGroupName} does not use launch template ${fleet.launchTemplateId} (stack output ${launch.role === 'web' ? 'Web' : 'Worker'}LaunchTemplateId); run npx cdk deploy ${handle.stackName}; nothing was changed`);
  }
  const version = group.LaunchTemplate.Version ?? '$Default';
  const tags = runTags(handle, launch);
  const refused: string[] = [];
  for (const [attempt, subnetId] of runner.subnetIds.entries()) {
    try {
      const res = await handle.clients.ec2.send(
        new RunInstancesCommand({
          LaunchTemplate: { LaunchTemplateId: fleet.launchTemplateId, Version: version },
          ImageId: launch.serving.imageId,
          IamInstanceProfile: { Arn: runner.instanceProfileArn },
          MinCount: 1,
          MaxCount: 1,
          ClientToken: attempt === 0 ? launch.runId : `${launch.runId}-${attempt}`,
          SubnetId: subnetId,
          InstanceInitiatedShutdownBehavior: 'terminate',
          UserData: base64(runCommandUserData(handle.app, handle.name, {
            command: launch.command,
            runAs: launch.role,
            timeoutSeconds: launch.timeoutSeconds,
            logRetentionDays: handle.config.logRetentionDays,
          })),
          TagSpecifications: [
            { ResourceType: 'instance', Tags: tags },
            { ResourceType: 'volume', Tags: tags },
          ],
        }),
      );
      const id = res.Instances?.[0]?.InstanceId;
      if (!id) throw new CliError('RunInstances returned no instance', EXIT.failed);
      return id;
    } catch (err) {
      if (!isAwsCode(err, 'InsufficientInstanceCapacity', 'Unsupported')) throw err;
      refused.push(`${subnetId}: ${(err as Error).message}`);
    }
  }
  throw new CliError(`no subnet of ${handle.name} had capacity for the run instance (${refused.join('; ')}); try again later`, EXIT.failed);
}

/** What the instance reported (`herd-boot --role run`). */
export interface RunResult {
  readonly exitCode: number;
  readonly logTail: string;
  /** Lines of output the command printed in all. */
  readonly lines: number;
}

/** The run's report, or undefined while it has none. */
export async function readRunResult(handle: EnvironmentHandle, instanceId: string): Promise<RunResult | undefined> {
  const value = await readParameter(handle.context, `${parameterNames(handle.app, handle.name).runResultsPrefix}${instanceId}`);
  if (value === undefined) return undefined;
  const parsed = JSON.parse(value) as Partial<RunResult>;
  if (typeof parsed.exitCode !== 'number') throw new CliError(`the report of run instance ${instanceId} has no exit code: ${value.slice(0, 200)}`, EXIT.failed);
  return { exitCode: parsed.exitCode, logTail: typeof parsed.logTail === 'string' ? parsed.logTail : '', lines: typeof parsed.lines === 'number' ? parsed.lines : 0 };
}

/** Deletes the run's report once read (a missing one is fine). */
export async function deleteRunResult(handle: EnvironmentHandle, instanceId: string): Promise<void> {
  try {
    await handle.clients.ssm.send(new DeleteParameterCommand({ Name: `${parameterNames(handle.app, handle.name).runResultsPrefix}${instanceId}` }));
  } catch (err) {
    if (!isAwsCode(err, 'ParameterNotFound')) throw err;
  }
}

/**
 * The instance's state; `pending` while EC2 does not show an instance launched seconds ago
 * (DescribeInstances is eventually consistent right after RunInstances).
 */
export async function runInstanceState(handle: EnvironmentHandle, instanceId: string): Promise<string> {
  try {
    const res = await handle.clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return res.Reservations?.[0]?.Instances?.[0]?.State?.Name ?? 'pending';
  } catch (err) {
    if (isAwsCode(err, 'InvalidInstanceID.NotFound')) return 'pending';
    throw err;
  }
}

/** Terminates the run instance (already gone or going: nothing to do). */
export async function terminateRunInstance(handle: EnvironmentHandle, instanceId: string): Promise<void> {
  try {
    await handle.clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
  } catch (err) {
    if (!isAwsCode(err, 'InvalidInstanceID.NotFound')) throw err;
  }
}

/** Run instances of the environment not terminated yet (for `herd status`: a run a dead CLI left). */
export async function liveRunInstances(handle: EnvironmentHandle): Promise<{ id: string; runId: string; launchedAt: number | undefined; state: string }[]> {
  const res = await handle.clients.ec2.send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: `tag:${TAGS.environment}`, Values: [handle.name] },
        { Name: `tag:${TAGS.role}`, Values: [RUN_ROLE] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
      ],
    }),
  );
  return (res.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => ({
    id: i.InstanceId ?? '',
    runId: i.Tags?.find((t) => t.Key === TAGS.run)?.Value ?? '',
    launchedAt: i.LaunchTime?.getTime(),
    state: i.State?.Name ?? 'unknown',
  }));
}
