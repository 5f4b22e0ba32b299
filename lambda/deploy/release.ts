/**
 * Launch template swap (a numbered version per role with the literal AMI id, plus the
 * current-image/current-release parameters) and the migration run (`release:` once, on a
 * short-lived runner launched from the new web launch-template version).
 */
import { DescribeAutoScalingGroupsCommand, UpdateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateVersionCommand, DescribeLaunchTemplateVersionsCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateDBSnapshotCommand, DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import type { Role } from '../../lib/config/types';
import { NO_RELEASE, parameterNames } from '../../lib/names';
import { DeployFailure } from './errors';
import type { DeployState } from './state';
import {
  STAGE_DONE,
  base64,
  checkDeadline,
  deployTags,
  findDeployInstances,
  fleetOf,
  instanceState,
  instanceType,
  readReport,
  retireDeployInstances,
  rolesOf,
  tail,
  type AdvanceContext,
  type Step,
} from './step';

async function readParameter(ctx: AdvanceContext, name: string): Promise<string | undefined> {
  try {
    const res = await ctx.clients.ssm.send(new GetParameterCommand({ Name: name }));
    return res.Parameter?.Value;
  } catch (err) {
    if (err instanceof Error && err.name === 'ParameterNotFound') return undefined;
    throw err;
  }
}

/**
 * Writes current-image and current-release. SSM validates the `aws:ec2:image` value
 * asynchronously: callers wait with `releaseParametersVisible` before relying on it.
 */
export async function writeCurrent(ctx: AdvanceContext, state: DeployState, imageId: string, release: string): Promise<void> {
  const names = parameterNames(state.app, state.env);
  if (imageId) {
    await ctx.clients.ssm.send(
      new PutParameterCommand({ Name: names.currentImage, Value: imageId, Type: 'String', DataType: 'aws:ec2:image', Overwrite: true }),
    );
  }
  await ctx.clients.ssm.send(new PutParameterCommand({ Name: names.currentRelease, Value: release, Type: 'String', Overwrite: true }));
}

/** Launch-template versions the groups use now, by role; fails unless each is a number. */
export async function groupVersions(ctx: AdvanceContext): Promise<Partial<Record<Role, string>>> {
  const roles = rolesOf(ctx.env);
  const names = roles.map((r) => fleetOf(ctx.env, r).autoScalingGroupName);
  const res = await ctx.clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: names }));
  const versions: Partial<Record<Role, string>> = {};
  for (const role of roles) {
    const fleet = fleetOf(ctx.env, role);
    const group = res.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === fleet.autoScalingGroupName);
    if (!group) throw new DeployFailure(`Auto Scaling group ${fleet.autoScalingGroupName} (${role}) not found`);
    const lt = group.LaunchTemplate;
    if (!lt || lt.LaunchTemplateId !== fleet.launchTemplateId) {
      throw new DeployFailure(`Auto Scaling group ${fleet.autoScalingGroupName} does not use launch template ${fleet.launchTemplateId}`);
    }
    if (!lt.Version || !/^\d+$/.test(lt.Version)) {
      throw new DeployFailure(
        `Auto Scaling group ${fleet.autoScalingGroupName} uses launch template version ${lt.Version ?? '(none)'}; herd needs a numbered version (instance-refresh rollback does not support $Latest or $Default)`,
      );
    }
    versions[role] = lt.Version;
  }
  return versions;
}

/** Minutes the deploy waits for SSM to show the release parameters it wrote. */
export const PARAMETER_WAIT_MINUTES = 5;

/**
 * True once current-image and current-release read back as `imageId` and `release`
 * (SSM validates an `aws:ec2:image` write asynchronously and drops it if the image is
 * unusable, leaving the old value).
 */
export async function releaseParametersVisible(ctx: AdvanceContext, state: DeployState, imageId: string, release: string): Promise<boolean> {
  const names = parameterNames(state.app, state.env);
  if (imageId && (await readParameter(ctx, names.currentImage)) !== imageId) return false;
  return (await readParameter(ctx, names.currentRelease)) === release;
}

/** The AMI a launch-template version launches (undefined: none, or the version does not exist). */
async function versionImage(ctx: AdvanceContext, launchTemplateId: string, version: string): Promise<string | undefined> {
  const res = await ctx.clients.ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: launchTemplateId, Versions: [version] }));
  return res.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.ImageId;
}

/**
 * Records what serves before this deploy: release, image, and each group's version. A
 * group whose version does not launch the serving image (a CloudFormation rollback put
 * back a version it created before an earlier herd deploy, or someone changed the group)
 * is first pointed at a version of the same settings with the serving image: otherwise an
 * instance-refresh rollback, or compensation, would return it to an older release.
 */
const readCurrent: Step = async (state, ctx) => {
  if (!state.previous) {
    const names = parameterNames(state.app, state.env);
    const versions = await groupVersions(ctx);
    const imageId = (await readParameter(ctx, names.currentImage)) ?? '';
    if (/^ami-/.test(imageId)) {
      for (const role of rolesOf(ctx.env)) {
        const fleet = fleetOf(ctx.env, role);
        const version = versions[role];
        if (!version) continue;
        const launches = await versionImage(ctx, fleet.launchTemplateId, version);
        if (launches === imageId) continue;
        const res = await ctx.clients.ec2.send(
          new CreateLaunchTemplateVersionCommand({
            LaunchTemplateId: fleet.launchTemplateId,
            SourceVersion: version,
            VersionDescription: `herd: version ${version} with the serving image ${imageId} (deploy ${state.deployId})`.slice(0, 255),
            ClientToken: `${state.deployId}-${role}-serving`,
            LaunchTemplateData: { ImageId: imageId },
          }),
        );
        const repaired = res.LaunchTemplateVersion?.VersionNumber;
        if (repaired === undefined) throw new DeployFailure(`CreateLaunchTemplateVersion returned no version for ${fleet.launchTemplateId}`);
        await ctx.clients.autoScaling.send(
          new UpdateAutoScalingGroupCommand({
            AutoScalingGroupName: fleet.autoScalingGroupName,
            LaunchTemplate: { LaunchTemplateId: fleet.launchTemplateId, Version: String(repaired) },
          }),
        );
        versions[role] = String(repaired);
        state.warnings.push(
          `${fleet.autoScalingGroupName} was on launch-template version ${version}, which launches ${launches ?? 'no image'}, not the serving image ${imageId}; ` +
            `it now uses version ${repaired} (the same settings with the serving image)`,
        );
      }
    }
    state.previous = { imageId, release: (await readParameter(ctx, names.currentRelease)) ?? NO_RELEASE, versions };
  }
  return { goto: 'launchTemplate.create' };
};

const createVersions: Step = async (state, ctx) => {
  const imageId = state.image?.imageId;
  if (!imageId || !state.previous) throw new DeployFailure('no image or previous versions recorded before the launch-template swap');
  const next: Partial<Record<Role, string>> = { ...(state.next?.versions ?? {}) };
  for (const role of rolesOf(ctx.env)) {
    if (next[role]) continue;
    const fleet = fleetOf(ctx.env, role);
    const res = await ctx.clients.ec2.send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateId: fleet.launchTemplateId,
        SourceVersion: state.previous.versions[role],
        VersionDescription: `herd release ${state.release} (deploy ${state.deployId})`.slice(0, 255),
        ClientToken: `${state.deployId}-${role}`,
        LaunchTemplateData: { ImageId: imageId },
      }),
    );
    const version = res.LaunchTemplateVersion?.VersionNumber;
    if (version === undefined) throw new DeployFailure(`CreateLaunchTemplateVersion returned no version for ${fleet.launchTemplateId}`);
    next[role] = String(version);
  }
  state.next = { versions: next };
  state.parametersWritten = true;
  await writeCurrent(ctx, state, imageId, state.release);
  return { goto: 'launchTemplate.waitParameters' };
};

const waitParameters: Step = async (state, ctx) => {
  const imageId = state.image?.imageId ?? '';
  if (await releaseParametersVisible(ctx, state, imageId, state.release)) return STAGE_DONE;
  checkDeadline(state, ctx, PARAMETER_WAIT_MINUTES, `current-image to read ${imageId} (SSM validates aws:ec2:image parameters asynchronously)`);
  return { poll: 5 };
};

/** True unless the image says its Procfile has no `release:` (unknown: the runner decides). */
function hasReleaseProcess(state: DeployState): boolean {
  const processes = state.image?.processes;
  return processes === undefined || processes.includes('release');
}

const snapshot: Step = async (state, ctx) => {
  if (!hasReleaseProcess(state) || state.migration?.done) return STAGE_DONE;
  const db = ctx.env.database;
  if (!ctx.env.deploy.backupBeforeMigrate || !db) return { goto: 'migrate.launchRunner' };
  const id = `herd-${state.env}-${state.deployId}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/-+/g, '-').replace(/-$/, '');
  try {
    await ctx.clients.rds.send(
      new CreateDBSnapshotCommand({
        DBInstanceIdentifier: db.instanceIdentifier,
        DBSnapshotIdentifier: id,
        Tags: deployTags(state, 'backup').filter((t) => t.Key !== 'Name'),
      }),
    );
  } catch (err) {
    if (!(err instanceof Error && err.name === 'DBSnapshotAlreadyExistsFault')) throw err;
  }
  state.migration = { ...state.migration, snapshotId: id };
  return { goto: 'migrate.waitSnapshot' };
};

const waitSnapshot: Step = async (state, ctx) => {
  const id = state.migration?.snapshotId;
  if (!id) return { goto: 'migrate.snapshot' };
  const res = await ctx.clients.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }));
  const status = res.DBSnapshots?.[0]?.Status ?? 'missing';
  if (status === 'available') return { goto: 'migrate.launchRunner' };
  if (status !== 'creating') throw new DeployFailure(`database snapshot ${id} is ${status}`);
  checkDeadline(state, ctx, ctx.env.deploy.timeouts.migrateMinutes, `database snapshot ${id}`);
  return { poll: 30 };
};

/** The runner's user data: herd-boot (installed in the image by bake.sh) in the `release` role; the region comes from the metadata service. */
export function runnerUserData(app: string, env: string, logRetentionDays?: number): string {
  const retention = logRetentionDays !== undefined ? ` --log-retention-days ${logRetentionDays}` : '';
  return ['#!/bin/bash', 'set -euo pipefail', `exec /opt/herd/bin/herd-boot --app ${app} --env ${env} --role release${retention}`, ''].join('\n');
}

const launchRunner: Step = async (state, ctx) => {
  const [existing] = await findDeployInstances(state, ctx, 'release');
  if (existing) {
    state.migration = { ...state.migration, runnerId: existing };
    return { goto: 'migrate.waitRunner' };
  }
  const version = state.next?.versions.web;
  if (!version) throw new DeployFailure('no web launch-template version to launch the migration runner from');
  const res = await ctx.clients.ec2.send(
    new RunInstancesCommand({
      LaunchTemplate: { LaunchTemplateId: ctx.env.fleets.web.launchTemplateId, Version: version },
      // The runner's own profile, not the web one: only it may write the runner's report.
      IamInstanceProfile: { Arn: ctx.env.instances.runnerInstanceProfileArn },
      InstanceType: instanceType(ctx.env.deploy.builderInstanceType),
      MinCount: 1,
      MaxCount: 1,
      ClientToken: `${state.deployId}-runner`,
      SubnetId: ctx.env.instances.subnetIds[0],
      InstanceInitiatedShutdownBehavior: 'terminate',
      UserData: base64(runnerUserData(state.app, state.env, ctx.env.logRetentionDays)),
      TagSpecifications: [
        { ResourceType: 'instance', Tags: deployTags(state, 'release') },
        { ResourceType: 'volume', Tags: deployTags(state, 'release') },
      ],
    }),
  );
  const id = res.Instances?.[0]?.InstanceId;
  if (!id) throw new DeployFailure('RunInstances returned no migration runner');
  state.migration = { ...state.migration, runnerId: id };
  return { goto: 'migrate.waitRunner' };
};

const waitRunner: Step = async (state, ctx) => {
  const id = state.migration?.runnerId;
  if (!id) return { goto: 'migrate.launchRunner' };
  const report = await readReport(ctx, `${parameterNames(state.app, state.env).releaseRunsPrefix}${id}`);
  if (report) {
    if (report.exitCode !== 0) {
      throw new DeployFailure(`migration failed on runner ${id} (exit ${report.exitCode}): ${tail(report.logTail)}`);
    }
    state.migration = { ...state.migration, exitCode: 0 };
    return { goto: 'migrate.terminateRunner' };
  }
  const s = await instanceState(ctx, id);
  if (s !== 'pending' && s !== 'running') throw new DeployFailure(`migration runner ${id} is ${s} and never reported`);
  checkDeadline(state, ctx, ctx.env.deploy.timeouts.migrateMinutes, `migration runner ${id}`);
  return { poll: 10 };
};

const terminateRunner: Step = async (state, ctx) => {
  const runnerId = state.migration?.runnerId;
  await retireDeployInstances(state, ctx, 'release', runnerId ? [`${parameterNames(state.app, state.env).releaseRunsPrefix}${runnerId}`] : []);
  state.migration = { ...state.migration, done: true };
  return STAGE_DONE;
};

export const RELEASE_STEPS: Record<string, Step> = {
  'launchTemplate.read': readCurrent,
  'launchTemplate.create': createVersions,
  'launchTemplate.waitParameters': waitParameters,
  'migrate.snapshot': snapshot,
  'migrate.waitSnapshot': waitSnapshot,
  'migrate.launchRunner': launchRunner,
  'migrate.waitRunner': waitRunner,
  'migrate.terminateRunner': terminateRunner,
};
